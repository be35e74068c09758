/**
 * The Redis AUTH token from a secret that rotates: read once per process, cached, and read again
 * when Redis refuses it — so a rotated token reaches running functions and pollers without a redeploy.
 *
 * Tasks:
 * 1. Name where the token lives through a narrow port (`SecretSource`): Secrets Manager by ARN in
 *    AWS (`secretsManagerSource`, what the CDK construct configures), a value in memory in tests.
 * 2. Keep one cached token per process, shared by every connection (`RedisPassword`): `current()`
 *    reads it on first use; `refresh()` reads it again — one read at a time, and after the first
 *    refresh at most once per `minRefreshMs`, so a Redis that keeps refusing cannot turn into a
 *    storm of Secrets Manager calls.
 * 3. Recognise Redis's answers to a wrong token (`isAuthError`): WRONGPASS, NOAUTH, invalid password.
 * 4. The process's own token source from its environment (`processPassword`): the secret named by
 *    `REDIS_AUTH_SECRET_ARN`, read through `lib/config.ts`.
 */
import { redisSecretFromEnv, type RedisSecretRef } from '../config.js';

/** Where the AUTH token lives. */
export interface SecretSource {
  /** Reads the token now (no caching here). */
  read(): Promise<string>;
  /** For messages: which secret, never its value. */
  readonly description: string;
}

export class RedisSecretError extends Error {
  override name = 'RedisSecretError';
}

/**
 * Redis's answers to a missing or wrong token (Redis 6+: WRONGPASS; before: ERR invalid password).
 *
 * @example
 * isAuthError(new Error('WRONGPASS invalid username-password pair or user is disabled.')); // true
 */
export function isAuthError(e: unknown): boolean {
  const message = e instanceof Error ? e.message : String(e);
  return /\b(WRONGPASS|NOAUTH)\b|invalid password|invalid username-password/i.test(message);
}

/**
 * The token in a secret's string: the whole string, or one key of a JSON object.
 *
 * @example
 * tokenOf('{"token":"s3cret"}', { secretId: 'prod/redis', field: 'token' }); // 's3cret'
 */
export function tokenOf(secretString: string | undefined, ref: RedisSecretRef): string {
  if (secretString === undefined) throw new RedisSecretError(`the secret ${ref.secretId} has no SecretString (a binary secret cannot hold the Redis AUTH token)`);
  if (ref.field === undefined) return secretString;
  let parsed: unknown;
  try {
    parsed = JSON.parse(secretString);
  } catch {
    throw new RedisSecretError(`the secret ${ref.secretId} is not JSON, but REDIS_AUTH_SECRET_FIELD names the key "${ref.field}"`);
  }
  const token = (parsed as Record<string, unknown> | null)?.[ref.field];
  if (typeof token !== 'string') throw new RedisSecretError(`the secret ${ref.secretId} has no string at the JSON key "${ref.field}"`);
  return token;
}

/**
 * The token in AWS Secrets Manager (`GetSecretValue`, AWSCURRENT). The SDK is loaded on the first
 * read, so processes without a secret never load it.
 *
 * @example
 * const source = secretsManagerSource({ secretId: 'arn:aws:secretsmanager:…:secret:redis-AbCdEf' });
 */
export function secretsManagerSource(ref: RedisSecretRef): SecretSource {
  // A full ARN names its region (arn:aws:secretsmanager:<region>:…); a bare name leaves it to the SDK.
  const region = /^arn:[^:]+:secretsmanager:([^:]+):/.exec(ref.secretId)?.[1];
  let client: import('@aws-sdk/client-secrets-manager').SecretsManagerClient | undefined;
  return {
    description: `Secrets Manager secret ${ref.secretId}${ref.field ? ` (JSON key ${ref.field})` : ''}`,
    async read() {
      const sm = await import('@aws-sdk/client-secrets-manager');
      client ??= new sm.SecretsManagerClient(region ? { region } : {});
      const out = await client.send(new sm.GetSecretValueCommand({ SecretId: ref.secretId }));
      return tokenOf(out.SecretString, ref);
    },
  };
}

/**
 * A token held in memory, changed with `set` (tests, and tools that hold the token themselves).
 *
 * @example
 * const source = memorySource('s3cret'); source.set('rotated');
 */
export function memorySource(initial: string): SecretSource & { set(value: string): void; readonly reads: number } {
  let value = initial;
  let reads = 0;
  return {
    description: 'a token in memory',
    read: async () => {
      reads++;
      return value;
    },
    set: (v: string) => (value = v),
    get reads() {
      return reads;
    },
  };
}

export interface RedisPasswordOptions {
  /** @defaultValue 10000 — after the first refresh, ms before the secret is read again. */
  readonly minRefreshMs?: number;
  /** @defaultValue Date.now */
  readonly now?: () => number;
}

/**
 * The cached token of one secret, shared by every connection of a process.
 *
 * @example
 * const password = new RedisPassword(secretsManagerSource(ref));
 * const redis = connect(url, { profile: 'process', password });
 */
export class RedisPassword {
  private value?: Promise<string>;
  private refreshing?: Promise<string>;
  private lastRefreshAt = -Infinity;
  private failure?: { at: number; error: unknown };
  private readonly minRefreshMs: number;
  private readonly now: () => number;

  constructor(
    readonly source: SecretSource,
    opts: RedisPasswordOptions = {},
  ) {
    this.minRefreshMs = opts.minRefreshMs ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The cached token; the first call reads it. A refresh under way is waited for. A failed read is
   * not cached, but for a second the same error is returned without reading again.
   */
  current(): Promise<string> {
    if (this.refreshing) return this.refreshing;
    if (!this.value) {
      if (this.failure && this.now() - this.failure.at < 1000) return Promise.reject(this.failure.error);
      const reading = this.read();
      this.value = reading;
      reading.catch((error: unknown) => {
        if (this.value === reading) this.value = undefined;
        this.failure = { at: this.now(), error };
      });
    }
    return this.value;
  }

  /**
   * Reads the token again, because Redis refused the cached one. Calls during a read share it; after
   * a refresh, the secret is not read again for `minRefreshMs` (the cached token is returned).
   */
  refresh(): Promise<string> {
    if (this.refreshing) return this.refreshing;
    if (this.now() - this.lastRefreshAt < this.minRefreshMs && this.value) return this.current();
    this.lastRefreshAt = this.now();
    const reading = this.read();
    this.refreshing = reading;
    return reading.then(
      (token) => {
        this.value = reading;
        this.refreshing = undefined;
        return token;
      },
      (e: unknown) => {
        this.refreshing = undefined;
        throw e;
      },
    );
  }

  private async read(): Promise<string> {
    try {
      return await this.source.read();
    } catch (e) {
      if (e instanceof RedisSecretError) throw e;
      throw new RedisSecretError(`reading the Redis AUTH token from ${this.source.description} failed: ${(e as Error).message}`);
    }
  }
}

let shared: { key: string; password: RedisPassword } | undefined;

/**
 * This process's token source when its environment names a secret (`REDIS_AUTH_SECRET_ARN`, set by
 * the CDK construct on the poller, the scheduler and `needsRedis` functions); undefined otherwise.
 * One instance per process, so every connection shares one cached token and one refresh.
 *
 * @example
 * const password = processPassword(); // undefined in dev and tests: the URL carries the token, if any
 */
export function processPassword(env: NodeJS.ProcessEnv = process.env): RedisPassword | undefined {
  const ref = redisSecretFromEnv(env);
  if (!ref) return undefined;
  const key = `${ref.secretId}\n${ref.field ?? ''}`;
  if (shared?.key !== key) shared = { key, password: new RedisPassword(secretsManagerSource(ref)) };
  return shared.password;
}
