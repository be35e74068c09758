/**
 * Rotating the Redis AUTH token without a redeploy, against a real `redis-server` whose password is
 * changed mid-run (CONFIG SET requirepass) while the secret's value changes too.
 *
 * Redis keeps an authenticated connection authenticated when the password changes; what breaks a
 * client in production is its next connect (a failover, a frozen Lambda whose socket died, an idle
 * timeout). `CLIENT KILL TYPE normal` plays that part here.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Context } from 'aws-lambda';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { startLocalSecrets, type LocalSecrets } from '../support/secrets.js';
import { eventually } from '../support/stack.js';
import { connect } from '../../lib/redis/connection.js';
import { memorySource, RedisPassword } from '../../lib/redis/secret.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sidekiq-redis-AbCdEf';
let server: RedisServer;
let admin: Redis;
let password = 'first-token';

/** Changes the server's password, keeps the admin connection (SKIPME), and drops every other client. */
async function rotateRedis(to: string): Promise<void> {
  await admin.config('SET', 'requirepass', to);
  password = to;
  await admin.client('KILL', 'TYPE', 'normal');
}

beforeAll(async () => {
  server = await startRedisServer(undefined, ['--requirepass', password]);
  admin = new Redis({ port: server.port, host: '127.0.0.1', password });
  admin.on('error', () => undefined);
});

beforeEach(async () => {
  await admin.flushdb();
});

afterAll(async () => {
  admin.disconnect();
  await server.stop();
});

describe('connect() with a rotating password', () => {
  it('recovers by itself when the secret changes first and then Redis, reading the secret once more', async () => {
    // Prepare
    const source = memorySource(password);
    const redis = connect(`redis://127.0.0.1:${server.port}/0`, { profile: 'process', password: new RedisPassword(source) });
    await redis.set('k', 'before');
    const errors: string[] = [];
    redis.on('error', (e: Error) => errors.push(e.message));
    // Act: the documented order — the secret's new value, then Redis's switch
    source.set('second-token');
    await rotateRedis('second-token');
    // Assess: the next command lands after a WRONGPASS and one refresh
    await expect(redis.set('k', 'after')).resolves.toBe('OK');
    expect(await admin.get('k')).toBe('after');
    expect(errors.some((m) => m.startsWith('WRONGPASS'))).toBe(true);
    expect(source.reads).toBe(2);
    redis.disconnect();
  });

  it('recovers by itself when Redis changes first and the secret only later', async () => {
    // Prepare
    const source = memorySource(password);
    const redis = connect(`redis://127.0.0.1:${server.port}/0`, { profile: 'process', password: new RedisPassword(source, { minRefreshMs: 200 }) });
    await redis.ping();
    // Act: Redis refuses the old token while the secret still holds it
    await rotateRedis('third-token');
    const pending = redis.set('k', 'late');
    await eventually(() => source.reads >= 3, 10_000, 'a few refused refreshes');
    source.set('third-token');
    // Assess
    await expect(pending).resolves.toBe('OK');
    expect(await admin.get('k')).toBe('late');
    redis.disconnect();
  });

  it('makes a connection wait for the first read before it connects', async () => {
    // Prepare: a source that answers only when told to
    let release!: (v: string) => void;
    const slow = { description: 'slow', read: () => new Promise<string>((r) => (release = r)) };
    const redis = connect(`redis://127.0.0.1:${server.port}/0`, { profile: 'producer', password: new RedisPassword(slow) });
    // Act
    const reply = redis.ping();
    await new Promise((r) => setTimeout(r, 50));
    expect(redis.status).not.toBe('ready');
    release(password);
    // Assess
    await expect(reply).resolves.toBe('PONG');
    redis.disconnect();
  });
});

describe('the scheduler function, configured as the CDK construct configures it', () => {
  let secrets: LocalSecrets;

  beforeAll(async () => {
    secrets = await startLocalSecrets();
  });
  afterAll(async () => {
    await secrets.close();
  });

  it('reads the token by ARN at cold start and keeps promoting after a rotation, with no redeploy', async () => {
    // Prepare: the function's environment holds the secret's ARN, never the token
    secrets.set(ARN, password);
    Object.assign(process.env, {
      REDIS_HOST: '127.0.0.1',
      REDIS_PORT: String(server.port),
      REDIS_TLS: 'false',
      REDIS_AUTH_SECRET_ARN: ARN,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      SIDEKIQ_LAMBDA_SCHEDULER_INTERVAL_MS: '50',
    });
    delete process.env.REDIS_URL;
    const { handler } = await import('../../functions/scheduler.js');
    const run = () => {
      const end = Date.now() + 3300;
      return handler({}, { getRemainingTimeInMillis: () => end - Date.now() } as unknown as Context);
    };
    const due = (jid: string) => admin.zadd('schedule', String(Date.now() / 1000 - 1), `{"queue":"q","class":"A","args":[],"jid":"${jid}"}`);
    await due('aaaaaaaaaaaaaaaaaaaaaaaa');
    expect(await run()).toMatchObject({ promoted: 1 });
    expect(secrets.reads(ARN)).toBe(1);
    // Act: rotate the secret, then Redis; the warm function's connection is dropped
    secrets.set(ARN, 'fourth-token');
    await rotateRedis('fourth-token');
    await due('bbbbbbbbbbbbbbbbbbbbbbbb');
    const summary = await run();
    // Assess
    expect(summary).toMatchObject({ promoted: 1 });
    expect(await admin.llen('queue:q')).toBe(2);
    expect(secrets.reads(ARN)).toBe(2);
  });
});
