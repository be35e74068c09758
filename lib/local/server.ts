/**
 * The HTTP side of the local endpoint: Lambda's Invoke REST API, as the unmodified
 * `@aws-sdk/client-lambda` calls it.
 *
 * Tasks:
 * 1. Route `POST /2015-03-31/functions/{name}/invocations` to the function's pool (cached per URL:
 *    a poller sends the same few URLs all day); anything else is a service error.
 * 2. Read the body, refusing more than 6 MiB with 413 (the body is drained, the socket kept).
 * 3. Answer per `X-Amz-Invocation-Type`: `RequestResponse` (200 + result, or function error),
 *    `Event` (202, run in the background), `DryRun` (204); 429 at the concurrency limit.
 * 4. Write Lambda's headers: `X-Amzn-RequestId`, `X-Amz-Executed-Version`, `X-Amz-Function-Error`,
 *    and `x-amzn-ErrorType` on service errors (the SDK picks the exception class from it).
 * 5. Hand the invocation its trace: the caller's `X-Amzn-Trace-Id` as it came, or a fresh unsampled
 *    one, as Lambda's pass-through tracing does (the runtime sets `_X_AMZN_TRACE_ID` from it).
 *
 * The hot path does little on purpose: no JSON parsing here (the worker parses the payload), one
 * cached route lookup, one UUID, one `postMessage` each way.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  MAX_REQUEST_BYTES,
  functionNotFound,
  invalidParameter,
  invalidRequestContent,
  requestTooLarge,
  throttled,
  unknownOperation,
  type ServiceError,
} from './errors.js';
import { freshXrayHeader } from '../protocol/trace.js';
import type { EnvironmentPool } from './pool.js';
import { functionArn, parseInvokeUrl } from './routing.js';
import type { InvokeResult } from './types.js';

export interface ServerDeps {
  readonly pools: ReadonlyMap<string, EnvironmentPool>;
  readonly region: string;
  readonly accountId: string;
}

interface Route {
  readonly pool: EnvironmentPool | undefined;
  readonly arn: string;
}

const ROUTE_CACHE_SIZE = 1024;

/** Builds the request listener for `http.createServer`. */
export function invokeListener(deps: ServerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes = new Map<string, Route | null>();
  const route = (url: string): Route | null => {
    let r = routes.get(url);
    if (r !== undefined) return r;
    const target = parseInvokeUrl(url);
    r = target ? { pool: deps.pools.get(target.name), arn: functionArn(target, deps.region, deps.accountId) } : null;
    if (routes.size >= ROUTE_CACHE_SIZE) routes.clear();
    routes.set(url, r);
    return r;
  };

  return (req, res) => {
    const requestId = randomUUID();
    const r = req.method === 'POST' ? route(req.url ?? '') : null;
    if (!r) return drainThenFail(req, res, requestId, unknownOperation(req.method ?? '', req.url ?? ''));
    const pool = r.pool;
    if (!pool) return drainThenFail(req, res, requestId, functionNotFound(r.arn));
    if (Number(req.headers['content-length']) > MAX_REQUEST_BYTES) {
      return drainThenFail(req, res, requestId, requestTooLarge());
    }
    readBody(req, (payload) => {
      if (payload === null) return fail(res, requestId, requestTooLarge());
      const type = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
      const invocation = { requestId, payload, invokedFunctionArn: r.arn, traceHeader: traceOf(req) };
      if (type === 'RequestResponse') {
        const running = pool.tryInvoke(invocation);
        if (!running) return fail(res, requestId, throttled());
        void running.then((result) => answer(res, requestId, result));
      } else if (type === 'Event') {
        const invalid = parseError(payload);
        if (invalid !== null) return fail(res, requestId, invalidRequestContent(invalid));
        pool.enqueue(invocation);
        send(res, 202, ['X-Amzn-RequestId', requestId], '');
      } else if (type === 'DryRun') {
        send(res, 204, ['X-Amzn-RequestId', requestId], '');
      } else {
        fail(res, requestId, invalidParameter(`Unsupported invocation type: ${String(type)}`));
      }
    });
  };
}

/** The caller's X-Ray trace header, or a new trace as Lambda starts one. */
function traceOf(req: IncomingMessage): string {
  const given = req.headers['x-amzn-trace-id'];
  if (typeof given === 'string' && given !== '') return given;
  return freshXrayHeader(Date.now(), randomBytes(20).toString('hex'));
}

function answer(res: ServerResponse, requestId: string, result: InvokeResult): void {
  if (result.kind === 'invalid-payload') return fail(res, requestId, invalidRequestContent(result.body));
  const headers = ['Content-Type', 'application/json', 'X-Amzn-RequestId', requestId, 'X-Amz-Executed-Version', '$LATEST'];
  if (result.kind === 'function-error') headers.push('X-Amz-Function-Error', 'Unhandled');
  send(res, 200, headers, result.body);
}

function fail(res: ServerResponse, requestId: string, e: ServiceError): void {
  send(res, e.status, ['Content-Type', 'application/json', 'X-Amzn-RequestId', requestId, 'x-amzn-ErrorType', e.errorType], e.body);
}

function send(res: ServerResponse, status: number, headers: string[], body: string): void {
  if (res.destroyed) return;
  headers.push('Content-Length', String(Buffer.byteLength(body)));
  res.writeHead(status, headers);
  res.end(body);
}

/** Reads the body as UTF-8; `null` once it grows past the limit (the rest is read and dropped). */
function readBody(req: IncomingMessage, done: (body: string | null) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_REQUEST_BYTES) return done(null);
    done(chunks.length === 1 ? (chunks[0] as Buffer).toString() : Buffer.concat(chunks, size).toString());
  });
}

/** Answers only once the request body has been read, so the keep-alive socket stays usable. */
function drainThenFail(req: IncomingMessage, res: ServerResponse, requestId: string, e: ServiceError): void {
  req.on('end', () => fail(res, requestId, e));
  req.resume();
}

function parseError(payload: string): string | null {
  if (payload === '') return null;
  try {
    JSON.parse(payload);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}
