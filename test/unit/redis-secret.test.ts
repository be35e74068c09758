/**
 * The rotating AUTH token: parsing a secret, recognising Redis's refusals, caching and refreshing.
 * Pure: the source is in memory and the clock is injected.
 */
import { describe, expect, it } from 'vitest';
import { redisSecretFromEnv, redisUrlOf } from '../../lib/config.js';
import { isAuthError, memorySource, processPassword, RedisPassword, tokenOf, type SecretSource } from '../../lib/redis/secret.js';

const ref = { secretId: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:redis-AbCdEf' };

describe('tokenOf', () => {
  it('takes the whole string, or one key of a JSON secret', () => {
    expect(tokenOf('s3cret', ref)).toBe('s3cret');
    expect(tokenOf('{"token":"t0k","user":"u"}', { ...ref, field: 'token' })).toBe('t0k');
  });

  it('says which secret and key do not hold a token', () => {
    expect(() => tokenOf(undefined, ref)).toThrow(`the secret ${ref.secretId} has no SecretString (a binary secret cannot hold the Redis AUTH token)`);
    expect(() => tokenOf('plain', { ...ref, field: 'token' })).toThrow(`the secret ${ref.secretId} is not JSON, but REDIS_AUTH_SECRET_FIELD names the key "token"`);
    expect(() => tokenOf('{"token":1}', { ...ref, field: 'token' })).toThrow(`the secret ${ref.secretId} has no string at the JSON key "token"`);
  });
});

describe('isAuthError', () => {
  it('recognises WRONGPASS, NOAUTH and the pre-6 invalid password, and nothing else', () => {
    expect(isAuthError(new Error('WRONGPASS invalid username-password pair or user is disabled.'))).toBe(true);
    expect(isAuthError(new Error('Ready check failed: NOAUTH Authentication required.'))).toBe(true);
    expect(isAuthError(new Error('ERR invalid password'))).toBe(true);
    expect(isAuthError(new Error('OOM command not allowed when used memory > maxmemory'))).toBe(false);
    expect(isAuthError(new Error('connect ECONNREFUSED 127.0.0.1:6379'))).toBe(false);
  });
});

describe('RedisPassword', () => {
  it('reads once at first use and caches; concurrent first uses share one read', async () => {
    // Prepare
    const source = memorySource('one');
    const password = new RedisPassword(source);
    // Act
    const tokens = await Promise.all([password.current(), password.current(), password.current()]);
    // Assess
    expect(tokens).toEqual(['one', 'one', 'one']);
    expect(source.reads).toBe(1);
  });

  it('reads again on refresh, shares a refresh under way, and then waits minRefreshMs before reading again', async () => {
    // Prepare
    let now = 1_000;
    const source = memorySource('old');
    const password = new RedisPassword(source, { minRefreshMs: 10_000, now: () => now });
    await password.current();
    source.set('new');
    // Act
    const [a, b, c] = await Promise.all([password.refresh(), password.refresh(), password.current()]);
    // Assess
    expect([a, b, c]).toEqual(['new', 'new', 'new']);
    expect(source.reads).toBe(2);
    source.set('newer');
    now += 9_999;
    expect(await password.refresh()).toBe('new'); // too soon: the cached token
    expect(source.reads).toBe(2);
    now += 1;
    expect(await password.refresh()).toBe('newer');
    expect(source.reads).toBe(3);
  });

  it('does not cache a failed read, and names the secret in the error', async () => {
    // Prepare
    let now = 0;
    let fail = true;
    const source: SecretSource = { description: 'Secrets Manager secret x', read: async () => (fail ? Promise.reject(new Error('AccessDeniedException')) : 'ok') };
    const password = new RedisPassword(source, { now: () => now });
    // Act / Assess
    await expect(password.current()).rejects.toThrow('reading the Redis AUTH token from Secrets Manager secret x failed: AccessDeniedException');
    fail = false;
    await expect(password.current()).rejects.toThrow('AccessDeniedException'); // within a second: not read again
    now += 1000;
    await expect(password.current()).resolves.toBe('ok');
  });
});

describe('the environment', () => {
  it('names the secret (and its JSON key) instead of a token; the URL then carries no password', () => {
    const env = { REDIS_HOST: 'r.example', REDIS_PORT: '6380', REDIS_TLS: 'true', REDIS_AUTH_SECRET_ARN: ref.secretId, REDIS_AUTH_SECRET_FIELD: 'token' };
    expect(redisSecretFromEnv(env)).toEqual({ secretId: ref.secretId, field: 'token' });
    expect(redisUrlOf(env)).toBe('rediss://r.example:6380/0');
    expect(processPassword(env)?.source.description).toBe(`Secrets Manager secret ${ref.secretId} (JSON key token)`);
    expect(processPassword(env)).toBe(processPassword({ ...env })); // one per process
    expect(processPassword({ REDIS_HOST: 'r.example' })).toBeUndefined();
    expect(() => redisSecretFromEnv({ ...env, REDIS_AUTH_TOKEN: 't' })).toThrow('set REDIS_AUTH_SECRET_ARN or REDIS_AUTH_TOKEN, not both');
  });

  it('builds the URL with a database index and an ACL user', () => {
    expect(redisUrlOf({ REDIS_HOST: 'r', REDIS_DB: '3', REDIS_USERNAME: 'sidekiq' })).toBe('redis://sidekiq@r:6379/3');
    expect(redisUrlOf({ REDIS_HOST: 'r', REDIS_USERNAME: 'sidekiq', REDIS_AUTH_TOKEN: 'p@ss' })).toBe('redis://sidekiq:p%40ss@r:6379/0');
    expect(() => redisUrlOf({ REDIS_HOST: 'r', REDIS_DB: '-1' })).toThrow('REDIS_DB must be an integer ≥ 0, got "-1"');
  });
});
