/**
 * Redis connections from a URL.
 *
 * Tasks:
 * 1. Build an ioredis client from `redis://` or `rediss://` (TLS) URLs with username/password AUTH
 *    and a db index, and a bounded connect timeout.
 * 2. Two profiles: a producer (a Lambda enqueueing back) fails fast with a clear error when Redis is
 *    unreachable instead of hanging until the function's timeout; a long-running process (the
 *    poller) reconnects with backoff forever and replays queued commands, so nothing in flight is
 *    lost across a Redis restart.
 * 3. `ready()` waits for a usable connection, bounded, and names the server when it cannot get one.
 * 4. `onReconnect()`: run something each time a connection comes back after a drop (not on the
 *    first connect), e.g. to reconcile what a lost reply may have left behind.
 * 5. AUTH from a rotating secret (`lib/redis/secret.ts`): every connect and reconnect sends the
 *    process's cached token, and a WRONGPASS/NOAUTH makes it read the secret again, so the next
 *    reconnect carries the rotated token. Used when the URL has no password and the environment
 *    names the secret (what the CDK construct sets), or when a `password` is passed.
 */
import { Redis, type Callback, type RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_URL } from '../config.js';
import { isAuthError, processPassword, type RedisPassword } from './secret.js';

export { DEFAULT_REDIS_URL };

export interface ConnectOptions {
  /** @defaultValue 'producer' — fail fast; 'process' — reconnect forever (poller, heartbeat). */
  readonly profile?: 'producer' | 'process';
  /** @defaultValue 5000 — ms to establish a connection. */
  readonly connectTimeoutMs?: number;
  /** Connection name shown by `CLIENT LIST`. */
  readonly name?: string;
  /**
   * The AUTH token from a rotating secret. @defaultValue the process's secret
   * (`REDIS_AUTH_SECRET_ARN`) when the URL carries no password; none otherwise.
   */
  readonly password?: RedisPassword;
}

export class RedisUnavailableError extends Error {
  override name = 'RedisUnavailableError';
}

/** `host:port` of a URL, without credentials, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || 6379}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(invalid Redis URL)';
  }
}

/**
 * Creates a client. ioredis understands `rediss://` (TLS), `user:pass@` and `/db` itself.
 *
 * @example
 * const redis = connect(redisUrlOf(process.env), { profile: 'producer' });
 */
export function connect(url: string, opts: ConnectOptions = {}): Redis {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RedisUnavailableError(`REDIS_URL "${url}" is not a URL; expected redis://[user:password@]host:port/db or rediss://…`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new RedisUnavailableError(`REDIS_URL must start with redis:// or rediss://, got ${parsed.protocol}//`);
  }
  const producer = (opts.profile ?? 'producer') === 'producer';
  const options: RedisOptions = {
    connectTimeout: opts.connectTimeoutMs ?? 5000,
    connectionName: opts.name,
    lazyConnect: producer,
    // A process keeps commands queued across a reconnect (the poller's acknowledgements must land);
    // a producer gives up after a few attempts so a Lambda is not held until its timeout.
    maxRetriesPerRequest: producer ? 2 : null,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    // A process (the poller) issues many small commands at once — one acknowledgement per finished
    // job — which auto-pipelining sends in one write per event-loop turn.
    enableAutoPipelining: !producer,
  };
  if (parsed.protocol === 'rediss:') options.tls = { servername: parsed.hostname };
  const password = opts.password ?? (parsed.password ? undefined : processPassword());
  const client = password ? new RotatingAuthRedis(url, options, password) : new Redis(url, options);
  // Errors reach callers through their commands (and `ready()`); without a listener ioredis would
  // also print every reconnect attempt as an "Unhandled error event".
  client.on('error', () => undefined);
  return client;
}

/**
 * An ioredis client whose AUTH token comes from a `RedisPassword`. ioredis reads `options.password`
 * on every (re)connect, so each connect first sets it from the cached token. A token refused at
 * connect (WRONGPASS, or NOAUTH from the ready check) makes the secret be read again and the client
 * reconnect, keeping its queued commands: they run once the refreshed token is accepted (a
 * producer's still fail after its few retries). Commands issued before the first read wait in
 * ioredis's offline queue. An authenticated connection stays authenticated when the password
 * changes (Redis and ElastiCache alike), so only connects need this.
 */
class RotatingAuthRedis extends Redis {
  private secretAttempts = 0;

  constructor(url: string, options: RedisOptions, private readonly password: RedisPassword) {
    // Lazy for the base class: its constructor would call connect() before this one has run.
    super(url, { ...options, lazyConnect: true });
    // What ioredis sets when it starts connecting; commands queued before the first read need it.
    this.condition = { select: this.options.db ?? 0, subscriber: false };
    if (!options.lazyConnect) this.connect().catch(() => undefined);
  }

  override connect(callback?: Callback<void>): Promise<void> {
    const connected = this.password.current().then(
      (token) => {
        this.secretAttempts = 0;
        if (this.status === 'end') throw new Error('Connection is closed.');
        this.options.password = token;
        return super.connect();
      },
      (e: Error) => {
        // No token, no connection: say why, and try again with the reconnect backoff.
        this.emit('error', e);
        const delay = this.options.retryStrategy?.(++this.secretAttempts);
        if (typeof delay === 'number' && this.status !== 'end') setTimeout(() => this.status !== 'end' && this.connect().catch(() => undefined), delay).unref();
        throw e;
      },
    );
    if (callback) connected.then(() => callback(null), (e: Error) => callback(e));
    return connected;
  }

  /** ioredis calls this when AUTH (or the ready check after it) fails at connect. */
  override recoverFromFatalError(commandError: Error, err: Error, options: Parameters<Redis['recoverFromFatalError']>[2]): void {
    if (!isAuthError(err)) return super.recoverFromFatalError(commandError, err, options);
    this.refreshToken();
    // Drop only what this connect sent (AUTH, the ready check); the caller's commands wait for the next one.
    super.recoverFromFatalError(commandError, err, { ...options, offlineQueue: false });
  }

  private refreshToken(): void {
    this.password.refresh().catch((e: Error) => this.emit('error', e));
  }
}

/**
 * Resolves once the client can run commands; rejects with a message naming the server otherwise.
 */
export async function ready(redis: Redis, url: string, timeoutMs = 5000): Promise<void> {
  if (redis.status === 'ready') return;
  if (redis.status === 'wait') redis.connect().catch(() => undefined);
  let lastError: Error | undefined;
  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error): void => {
      lastError = e;
    };
    const done = (err?: Error): void => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('error', onError);
      redis.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onReady = (): void => done();
    const onEnd = (): void =>
      done(new RedisUnavailableError(`Redis at ${describeUrl(url)} closed the connection${lastError ? `: ${lastError.message}` : ''}`));
    const timer = setTimeout(() => {
      const stuck = redis.status === 'connect';
      done(
        new RedisUnavailableError(
          `Redis at ${describeUrl(url)} is unreachable after ${timeoutMs} ms${lastError ? `: ${lastError.message}` : stuck ? ': it accepted the connection but never answered' : ''}; check REDIS_URL, the security group and TLS (rediss://)`,
        ),
      );
      // A socket that connected but never answered (a TLS/plain mismatch, a proxy with nothing
      // behind it) would sit in 'connect' forever: ioredis's connectTimeout covers only the TCP
      // handshake. Drop it and let the retry strategy dial again, so a later ready() can succeed.
      if (stuck) redis.disconnect(true);
    }, timeoutMs);
    redis.on('ready', onReady);
    redis.on('error', onError);
    redis.once('end', onEnd);
  });
}

/** Calls `fn` each time `redis` is ready again after a drop; the first connect does not count. */
export function onReconnect(redis: Redis, fn: () => void): void {
  let connected = redis.status === 'ready';
  redis.on('ready', () => {
    if (connected) fn();
    connected = true;
  });
}
