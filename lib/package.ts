/**
 * This package on disk: where it is, what it is, and whether it runs from its sources.
 *
 * Tasks:
 * 1. Find the package's root from any of its files — `lib/*.ts` in this repository, `dist/*.js`,
 *    `dist/chunks/*.js` or `dist/cjs/*.cjs` in an installed copy — by the nearest `package.json`
 *    named `sidekiq-lambda`.
 * 2. Tell a checkout of this repository (the TypeScript sources are there: build from them) from
 *    the installed package (use what `npm pack` shipped: `dist/`, the Dockerfile).
 * 3. Read the package's own `package.json` (its version, and the versions of the tools it is
 *    tested with, which `sidekiq-lambda init` writes into a new project).
 *
 * Everything here is computed on first use: a Lambda bundle never calls it, and must not fail
 * at import because it has no package.json around it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = 'sidekiq-lambda';

/** The parts of our package.json that the code reads. */
export interface PackageManifest {
  readonly name: string;
  readonly version: string;
  readonly dependencies?: Readonly<Record<string, string>>;
  readonly devDependencies?: Readonly<Record<string, string>>;
  readonly peerDependencies?: Readonly<Record<string, string>>;
}

function readManifest(dir: string): PackageManifest | undefined {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PackageManifest;
  } catch {
    return undefined;
  }
}

/**
 * The directory of the nearest `package.json` named `sidekiq-lambda` at or above `from`.
 *
 * @example findPackageRoot('/app/node_modules/sidekiq-lambda/dist/chunks') // '/app/node_modules/sidekiq-lambda'
 */
export function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (readManifest(dir)?.name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) {
      throw new Error(`${PACKAGE_NAME}: no package.json named "${PACKAGE_NAME}" at or above ${from}; reinstall the package (npm install ${PACKAGE_NAME})`);
    }
  }
}

let root: string | undefined;

/** This package's root: the repository, or `node_modules/sidekiq-lambda`. */
export function packageRoot(): string {
  root ??= findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  return root;
}

/**
 * True in a checkout of this repository, where the TypeScript sources are: bundles are built from
 * them, so `cdk deploy` ships the work tree. False in an installed package, which ships them built.
 */
export function isSourceCheckout(dir: string = packageRoot()): boolean {
  return existsSync(join(dir, 'lib', 'cli.ts'));
}

/** This package's package.json. */
export function packageManifest(dir: string = packageRoot()): PackageManifest {
  const manifest = readManifest(dir);
  if (!manifest) throw new Error(`${PACKAGE_NAME}: cannot read ${join(dir, 'package.json')}`);
  return manifest;
}
