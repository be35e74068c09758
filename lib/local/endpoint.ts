/**
 * The local Lambda endpoint: what `sidekiq-lambda dev` and the tests point the AWS SDK at.
 *
 * Tasks:
 * 1. Validate the functions (fail loudly, naming the function and the field).
 * 2. Bundle every handler with esbuild into a scratch directory, as deploy would; a bundling
 *    error fails the start (`BundleError`, see `bundle.ts` for why).
 * 3. Create one environment pool per function and an HTTP server tuned for many keep-alive
 *    sockets; listen on `host:port` (port 0 = a free one).
 * 4. `close()`: stop listening, drop every connection, stop every worker, delete the bundles.
 *
 * Not implemented, on purpose: SigV4 verification (any credentials work), versions and aliases
 * (any qualifier runs `$LATEST`), `X-Amz-Log-Type: Tail`, Lambda's retries of failed `Event`
 * invocations.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, extname, isAbsolute, join } from 'node:path';
import { bundleFunctions } from './bundle.js';
import { lambdaEnvironment } from './environment.js';
import { EnvironmentPool } from './pool.js';
import { runtimeSource } from './runtime.js';
import { invokeListener } from './server.js';
import type { InvokeRequest, InvokeResult, LocalFunction } from './types.js';

export { BundleError } from './bundle.js';
export type { LocalFunction } from './types.js';

export interface LocalLambdaOptions {
  readonly functions: readonly LocalFunction[];
  /** @defaultValue 0 — a free port; read it from the result. */
  readonly port?: number;
  /** @defaultValue '127.0.0.1' */
  readonly host?: string;
  /** @defaultValue 'us-east-1' — in ARNs, `AWS_REGION`. */
  readonly region?: string;
  /** @defaultValue '000000000000' — in ARNs. */
  readonly accountId?: string;
  /**
   * @defaultValue 1 — Lambda's model: an environment runs one invocation at a time, so each
   * invocation in flight holds a worker thread, and every invocation wakes one. More lets a worker
   * run several at once (module state shared, as threads share it in a Sidekiq process; a timeout
   * or crash then ends the others in that environment too): a throughput mode for benchmarks.
   */
  readonly invocationsPerEnvironment?: number;
  /** @defaultValue no logging — receives one line per notable event (start, failed `Event` invocation). */
  readonly logger?: (line: string) => void;
}

export interface LocalLambda {
  /** `http://host:port`, the SDK's `endpoint`. */
  readonly url: string;
  readonly port: number;
  /** Invocations and environments per function (for tests and diagnostics). */
  stats(): Record<string, EnvironmentPool['stats']>;
  close(): Promise<void>;
}

/**
 * Bundles the functions and serves Lambda's Invoke API for them.
 *
 * @example
 * const lambda = await startLocalLambda({ functions: [{ name: 'echo', entry: '/app/functions/echo.ts', timeoutSeconds: 30, memoryMb: 256, concurrency: 10 }] });
 * const client = new LambdaClient({ endpoint: lambda.url, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
 * await client.send(new InvokeCommand({ FunctionName: 'echo', Payload: JSON.stringify({ hi: 1 }) }));
 * await lambda.close();
 */
export async function startLocalLambda(opts: LocalLambdaOptions): Promise<LocalLambda> {
  opts.functions.forEach(validateFunction);
  const perEnvironment = opts.invocationsPerEnvironment ?? 1;
  if (!Number.isInteger(perEnvironment) || perEnvironment < 1) {
    throw new TypeError(`local lambda: invocationsPerEnvironment must be an integer >= 1, got ${perEnvironment}`);
  }
  const region = opts.region ?? 'us-east-1';
  const accountId = opts.accountId ?? '000000000000';
  const log = opts.logger ?? (() => {});
  const dir = await mkdtemp(join(tmpdir(), 'sidekiq-lambda-local-'));
  const pools = new Map<string, EnvironmentPool>();
  try {
    const started = Date.now();
    const bundles = await bundleFunctions(opts.functions, dir);
    const runtimeFile = join(dir, 'runtime.cjs');
    await writeFile(runtimeFile, runtimeSource());
    for (const fn of opts.functions) {
      const bundle = bundles.get(fn.entry) as string;
      const moduleName = basename(fn.entry, extname(fn.entry));
      const data = { bundle, handlerExport: fn.handlerExport ?? 'handler', moduleName, functionName: fn.name, memoryMb: fn.memoryMb };
      const onEventResult = (req: InvokeRequest, result: InvokeResult): void => {
        if (result.kind !== 'success') log(`lambda ${fn.name}: Event invocation ${req.requestId} failed: ${result.body}`);
      };
      const env = lambdaEnvironment(fn, region, moduleName);
      // Lambda sets this where one environment runs several invocations at once (Managed Instances).
      if (perEnvironment > 1) env.AWS_LAMBDA_MAX_CONCURRENCY = String(perEnvironment);
      const { invocationsPerEnvironment } = opts;
      pools.set(fn.name, new EnvironmentPool({ fn, runtimeFile, data, env, invocationsPerEnvironment, onEventResult }));
    }
    const server = createServer({ noDelay: true }, invokeListener({ pools, region, accountId }));
    // The SDK keeps sockets open between calls; Node's 5 s default would race them and reset a
    // socket the client is about to reuse.
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 66_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
    });
    const { port, address } = server.address() as AddressInfo;
    const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
    log(`local lambda: ${opts.functions.length} function(s) bundled in ${Date.now() - started} ms, listening on ${url}`);
    let closing: Promise<void> | undefined;
    return {
      url,
      port,
      stats: () => Object.fromEntries([...pools].map(([name, pool]) => [name, pool.stats])),
      close: () =>
        (closing ??= (async () => {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          server.closeAllConnections();
          await Promise.all([closed, ...[...pools.values()].map((p) => p.close())]);
          await rm(dir, { recursive: true, force: true });
        })()),
    };
  } catch (e) {
    await Promise.all([...pools.values()].map((p) => p.close()));
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

function validateFunction(fn: LocalFunction, i: number, all: readonly LocalFunction[]): void {
  const where = `local lambda: function ${fn.name || `#${i}`}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(fn.name)) throw new TypeError(`${where}: name must be 1-64 of [A-Za-z0-9_-]`);
  if (all.findIndex((f) => f.name === fn.name) !== i) throw new TypeError(`${where}: declared twice`);
  if (!isAbsolute(fn.entry)) throw new TypeError(`${where}: entry must be an absolute path, got ${fn.entry}`);
  if (!(fn.timeoutSeconds > 0)) throw new TypeError(`${where}: timeoutSeconds must be > 0, got ${fn.timeoutSeconds}`);
  for (const field of ['memoryMb', 'concurrency'] as const) {
    if (!Number.isInteger(fn[field]) || fn[field] < 1) throw new TypeError(`${where}: ${field} must be an integer >= 1, got ${fn[field]}`);
  }
}
