/**
 * Rotating the Redis AUTH token under a running poller and a warm job function that enqueues back:
 * both read the token from the secret by ARN (the real @aws-sdk/client-secrets-manager against a
 * local Secrets Manager endpoint), and both recover by themselves — no restart, no redeploy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { startLocalSecrets, type LocalSecrets } from '../support/secrets.js';
import { startStack, eventually, executions, renderJob, type Stack } from '../support/stack.js';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:sidekiq-redis-AbCdEf';
let server: RedisServer;
let secrets: LocalSecrets;
let admin: Redis;

beforeAll(async () => {
  server = await startRedisServer(undefined, ['--requirepass', 'old-token']);
  secrets = await startLocalSecrets();
  secrets.set(ARN, 'old-token');
  admin = new Redis({ port: server.port, host: '127.0.0.1', password: 'old-token' });
  admin.on('error', () => undefined);
  // What the CDK construct gives the poller (and the job function, below): the ARN, never the token.
  Object.assign(process.env, { REDIS_AUTH_SECRET_ARN: ARN, AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
});

afterAll(async () => {
  admin.disconnect();
  await secrets.close();
  await server.stop();
});

describe('rotation', () => {
  let stack: Stack | undefined;
  afterAll(async () => {
    await stack?.close();
  });

  it('keeps the poller and a function that writes to Redis working across a password change', async () => {
    // Prepare: a running poller and a warm function, both on the old token
    const url = `redis://127.0.0.1:${server.port}/0`;
    stack = await startStack(url, [{ class: 'OkJob', queue: 'q', handler: 'ok' }], {}, {
      functionEnv: { REDIS_AUTH_SECRET_ARN: ARN, AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url },
    });
    const first = await renderJob(admin, 'OkJob', 'q');
    await admin.lpush('queue:q', first);
    await eventually(async () => (await executions(admin)).size === 1, 15_000, 'the first job to run');
    const readsBefore = secrets.reads(ARN);
    // Act: the secret's new value, then Redis's switch; every client connection drops
    secrets.set(ARN, 'new-token');
    await admin.config('SET', 'requirepass', 'new-token');
    await admin.client('KILL', 'TYPE', 'normal');
    await admin.client('KILL', 'TYPE', 'pubsub');
    const second = await renderJob(admin, 'OkJob', 'q');
    await admin.lpush('queue:q', second);
    // Assess: the second job runs (the poller fetched and acknowledged it, the function wrote to
    // Redis), each once, with a handful of secret reads rather than one per command
    await eventually(async () => (await executions(admin)).size === 2, 20_000, 'the second job to run after the rotation');
    const ran = await executions(admin);
    expect([...ran.values()]).toEqual([1, 1]);
    await eventually(async () => (await admin.llen('queue:q')) === 0 && (await admin.get('stat:processed')) === '2', 10_000, 'both acknowledged');
    expect(stack.running.poller.problem()).toBeUndefined();
    expect(readsBefore).toBeGreaterThanOrEqual(2); // the poller's cold start and the function's
    expect(secrets.reads(ARN) - readsBefore).toBeGreaterThanOrEqual(2); // each read it again
    expect(secrets.reads(ARN)).toBeLessThanOrEqual(8);
  });
});
