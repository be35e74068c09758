/**
 * `sidekiq-lambda init [--class C] [--queue q] [--dir D]`: what a first job needs, in a team's
 * existing repository (often the Rails monorepo) or an empty folder.
 *
 * Tasks:
 * 1. Look at the project: ES modules or CommonJS (package.json `type`), its test runner (vitest or
 *    jest, else vitest is added), a CDK app already there (`cdk.json`), its package manager.
 * 2. Write, never over an existing file: `sidekiq-lambda.config.ts`, the handler
 *    `functions/<name>.ts`, its test, a `tsconfig.json` when there is none, and — only when there
 *    is no CDK app — `cdk.json` and an app that deploys the construct. Name every file left alone.
 * 3. Add the scripts and dependencies the files need to package.json (never changing a value that
 *    is there), or print exactly what to add when the file cannot be read.
 * 4. Print what to do by hand (a declaration for a config that was there, the construct for a CDK
 *    app that was there) and the next three commands.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_DECLARATIONS } from '../declarations.js';
import { packageManifest, PACKAGE_NAME } from '../package.js';
import {
  APP_PATH,
  cdkApp,
  cdkJson,
  configFile,
  constructSnippet,
  declaration,
  handlerFile,
  jobNames,
  testFile,
  testPath,
  tsconfigFile,
  type JobNames,
  type ProjectKind,
} from './init-templates.js';

const HELP = `Usage: sidekiq-lambda init [--class HelloJob] [--queue hello] [--dir .]

Writes what a first job needs, and never over an existing file:
  ${DEFAULT_DECLARATIONS}        the job declarations
  functions/<name>.ts             the handler: logs with job.logger, enqueues a job back to Ruby
  its test                        runJob + fakeClient, for vitest (or jest, when the project uses it)
  cdk.json, ${APP_PATH}   a CDK app deploying the SidekiqLambda construct (only without a cdk.json)
  tsconfig.json                   (only without one)
and adds the scripts and dependencies they need to package.json.`;

type Deps = Record<string, string>;

interface PackageJson {
  type?: string;
  scripts?: Record<string, string>;
  dependencies?: Deps;
  devDependencies?: Deps;
  [key: string]: unknown;
}

/** What `init` found in the project directory. */
export interface Project extends ProjectKind {
  readonly dir: string;
  /** The parsed package.json; undefined when there is none; `'unreadable'` when it is not JSON. */
  readonly pkg: PackageJson | undefined | 'unreadable';
  /** A `cdk.json` of another app than the one `init` writes: the construct goes into that app by hand. */
  readonly hasCdkApp: boolean;
  readonly packageManager: 'npm' | 'yarn' | 'pnpm';
}

/** What `init` did. */
export interface InitReport {
  readonly names: JobNames;
  readonly project: Project;
  /** Files written, relative to the project. */
  readonly written: readonly string[];
  /** Files that were there and were left alone. */
  readonly kept: readonly string[];
  /** What was added to package.json, by section; empty when nothing was. */
  readonly added: Readonly<Record<'dependencies' | 'devDependencies' | 'scripts', readonly string[]>>;
  /** Everything `init` prints. */
  readonly text: string;
}

function readPackageJson(dir: string): PackageJson | undefined | 'unreadable' {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as PackageJson) : 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Looks at the project in `dir`. */
export function inspectProject(dir: string): Project {
  const pkg = readPackageJson(dir);
  const known = typeof pkg === 'object' ? { ...pkg.dependencies, ...pkg.devDependencies } : {};
  return {
    dir,
    pkg,
    module: pkg === undefined || (typeof pkg === 'object' && pkg.type === 'module') ? 'esm' : 'cjs',
    runner: 'jest' in known && !('vitest' in known) ? 'jest' : 'vitest',
    hasCdkApp: existsSync(join(dir, 'cdk.json')) && !readFileSync(join(dir, 'cdk.json'), 'utf8').includes(APP_PATH),
    packageManager: existsSync(join(dir, 'pnpm-lock.yaml')) ? 'pnpm' : existsSync(join(dir, 'yarn.lock')) ? 'yarn' : 'npm',
  };
}

/** The dependencies and scripts the written files need, at the versions this package is tested with. */
function needs(project: Project, writesApp: boolean): { dependencies: Deps; devDependencies: Deps; scripts: Record<string, string> } {
  const own = packageManifest();
  const tested = { ...own.devDependencies, ...own.dependencies };
  const version = (name: string): string => {
    const v = tested[name];
    if (!v) throw new Error(`init: this package names no version of ${name}`);
    return v;
  };
  const dev = ['aws-cdk-lib', 'constructs', 'aws-cdk', 'typescript', '@types/node'];
  if (writesApp) dev.push('tsx', 'cdk-nag');
  if (project.runner === 'vitest') dev.push('vitest');
  return {
    dependencies: { [PACKAGE_NAME]: `^${own.version}` },
    devDependencies: Object.fromEntries(dev.map((d) => [d, version(d)])),
    scripts: {
      test: project.runner === 'jest' ? 'jest' : 'vitest run',
      typecheck: 'tsc --noEmit',
      ...(writesApp && { cdk: 'cdk' }),
    },
  };
}

function sorted(deps: Deps): Deps {
  return Object.fromEntries(Object.entries(deps).sort(([a], [b]) => a.localeCompare(b)));
}

/** Adds what is missing to package.json (a new one when there is none); returns what it added. */
function updatePackageJson(project: Project, want: ReturnType<typeof needs>): InitReport['added'] {
  const file = join(project.dir, 'package.json');
  const existing = project.pkg;
  if (existing === 'unreadable') return { dependencies: [], devDependencies: [], scripts: [] };
  const pkg: PackageJson = existing ?? {
    name: basename(project.dir).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'jobs',
    private: true,
    type: 'module',
  };
  const have = { ...pkg.dependencies, ...pkg.devDependencies };
  const added = { dependencies: [] as string[], devDependencies: [] as string[], scripts: [] as string[] };
  const scripts = { ...pkg.scripts };
  // A project whose scripts already run tsc (a `cdk init` app's `build`) needs no `typecheck`.
  const runsTsc = Object.values(scripts).some((c) => /^tsc(\s|$)/.test(c));
  for (const [name, command] of Object.entries(want.scripts)) {
    if (name in scripts || (name === 'typecheck' && runsTsc)) continue;
    scripts[name] = command;
    added.scripts.push(name);
  }
  if (added.scripts.length > 0) pkg.scripts = scripts;
  for (const section of ['dependencies', 'devDependencies'] as const) {
    const missing = Object.entries(want[section]).filter(([name]) => !(name in have));
    if (missing.length === 0) continue;
    pkg[section] = sorted({ ...pkg[section], ...Object.fromEntries(missing) });
    added[section] = missing.map(([name]) => name);
  }
  if (existing === undefined || Object.values(added).some((a) => a.length > 0)) {
    const text = existing === undefined ? '' : readFileSync(file, 'utf8');
    const indent = /^[ \t]+/m.exec(text)?.[0] ?? '  ';
    writeFileSync(file, `${JSON.stringify(pkg, null, indent)}\n`);
  }
  return added;
}

/** Writes `content` to `path` unless a file is there; says which happened. */
function writeNew(dir: string, path: string, content: string): boolean {
  const file = join(dir, path);
  if (existsSync(file)) return false;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content, { flag: 'wx' });
  return true;
}

/**
 * Runs `init` in `dir` and returns what it did, with the text to print.
 *
 * @example const report = runInit({ dir: '/app', className: 'TrackUserJob', queue: 'track' }); console.log(report.text)
 */
export function runInit(opts: { dir: string; className?: string; queue?: string }): InitReport {
  const names = jobNames(opts.className ?? 'HelloJob', opts.queue);
  const project = inspectProject(opts.dir);
  const writesApp = !project.hasCdkApp;
  const files: [path: string, content: string][] = [
    [DEFAULT_DECLARATIONS, configFile(names)],
    [`functions/${names.file}.ts`, handlerFile(names)],
    [testPath(names, project), testFile(names, project)],
    ['tsconfig.json', tsconfigFile(project)],
    ...(writesApp ? ([['cdk.json', cdkJson()], [APP_PATH, cdkApp(project)]] as [string, string][]) : []),
  ];
  const written: string[] = [];
  const kept: string[] = [];
  for (const [path, content] of files) (writeNew(opts.dir, path, content) ? written : kept).push(path);
  const want = needs(project, writesApp);
  const added = updatePackageJson(project, want);
  const report = { names, project, written, kept, added };
  return { ...report, text: describe(report, want) };
}

function describe(r: Omit<InitReport, 'text'>, want: ReturnType<typeof needs>): string {
  const { names: n, project: p } = r;
  const lines = [`sidekiq-lambda init: ${n.className} on queue "${n.queue}", in ${p.dir}`];
  for (const f of r.written) lines.push(`  wrote   ${f}`);
  for (const f of r.kept) lines.push(`  kept    ${f} (it exists; left alone)`);
  const pkgLine = (['dependencies', 'devDependencies', 'scripts'] as const)
    .filter((s) => r.added[s].length > 0)
    .map((s) => `${s} ${r.added[s].join(', ')}`)
    .join('; ');
  if (p.pkg === 'unreadable') {
    lines.push('', 'package.json is not valid JSON, so it was left alone. Add this to it:', JSON.stringify(want, null, 2));
  } else if (pkgLine) {
    lines.push(`  ${(p.pkg === undefined ? 'wrote' : 'updated').padEnd(7)} package.json: added ${pkgLine}`);
  }
  const config = join(p.dir, DEFAULT_DECLARATIONS);
  if (r.kept.includes(DEFAULT_DECLARATIONS) && !readFileSync(config, 'utf8').includes(`'${n.className}'`)) {
    lines.push('', `${DEFAULT_DECLARATIONS} was there already: declare the job in its defineJobs([...]):`, `  ${declaration(n)},`);
  }
  if (p.hasCdkApp) {
    lines.push('', 'Your CDK app (cdk.json) was left alone. Deploy the jobs from one of its stacks:', '', ...constructSnippet(p).split('\n').map((l) => `  ${l}`.trimEnd()));
  }
  const install = `${p.packageManager} install`;
  const test = p.packageManager === 'npm' ? 'npm test' : `${p.packageManager} test`;
  lines.push(
    '',
    'Next:',
    `  ${install.padEnd(26)}# what package.json lists`,
    `  ${test.padEnd(26)}# the ${n.className} test: no Redis, no AWS`,
    `  ${'npx sidekiq-lambda dev'.padEnd(26)}# run it against Redis (REDIS_URL, or a throwaway redis-server)`,
    '',
    `Then enqueue one from Rails: Sidekiq::Client.push("class" => "${n.className}", "queue" => "${n.queue}", "args" => ["Ada"])`,
    `(or: npx sidekiq-lambda enqueue --class ${n.className} --queue ${n.queue} --args '["Ada"]'), and deploy with npx cdk deploy.`,
  );
  return lines.join('\n');
}

export async function initCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { class: { type: 'string' }, queue: { type: 'string' }, dir: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const report = runInit({ dir: resolve(values.dir ?? '.'), className: values.class, queue: values.queue });
  console.log(report.text);
  return 0;
}
