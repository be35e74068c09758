/**
 * A poller in its own process — `node bin/sidekiq-lambda.js poller`, exactly what ECS runs — for
 * tests that kill it (-9) or stop it (SIGTERM).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { encodeRoutes, type Route } from '../../lib/jobs.js';
import { tied } from './tied.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Builds dist/ once per test file (the `prepare` build, `npm run build`). */
export function buildCli(): void {
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: ROOT, stdio: 'inherit' });
}

export interface PollerProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  /** Resolves once the process printed its `ready` line. */
  readonly ready: Promise<void>;
}

export function spawnPoller(redisUrl: string, lambdaUrl: string, routes: Route[], env: Record<string, string> = {}): PollerProcess {
  const child = spawn(...tied('node', ['bin/sidekiq-lambda.js', 'poller'], 'TERM'), {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: redisUrl,
      SIDEKIQ_LAMBDA_JOBS: encodeRoutes(routes),
      SIDEKIQ_LAMBDA_ENDPOINT: lambdaUrl,
      SIDEKIQ_LAMBDA_HEALTH_PORT: '0',
      SIDEKIQ_LAMBDA_METRICS: 'false',
      SIDEKIQ_LAMBDA_PROCESS_TTL: '3',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let onReady: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const onData = (d: Buffer): void => {
    out += d.toString();
    if (out.includes('"msg":"ready"')) onReady();
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<number | string>((r) => child.on('exit', (code, sig) => r(code ?? sig ?? -1)));
  return { child, output: () => out, exited, ready };
}
