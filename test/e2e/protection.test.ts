/**
 * ECS task scale-in protection while jobs run, against a local HTTP server that plays the ECS
 * container agent's endpoint (`PUT $ECS_AGENT_URI/task-protection/v1/state`): real HTTP, the poller's
 * own requests, no mock object.
 */
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { startStack, eventually, executions, renderJob, type Stack } from '../support/stack.js';
import { TaskProtection, PROTECTION_PATH } from '../../lib/poller/protection.js';
import { createLogger } from '../../lib/log.js';

interface AgentRequest {
  readonly method: string;
  readonly path: string;
  readonly contentType: string;
  readonly body: { ProtectionEnabled: boolean; ExpiresInMinutes?: number };
}

/** The agent's endpoint: records each request; answers as the agent does, or with a failure when told. */
async function startAgent(): Promise<{ url: string; requests: AgentRequest[]; refuse: boolean; close(): Promise<void> }> {
  const agent = {
    url: '',
    requests: [] as AgentRequest[],
    refuse: false,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString('utf8')));
    req.on('end', () => {
      const body = JSON.parse(text) as AgentRequest['body'];
      agent.requests.push({ method: req.method!, path: req.url!, contentType: String(req.headers['content-type']), body });
      res.setHeader('content-type', 'application/json');
      if (agent.refuse) {
        res.statusCode = 400;
        return res.end(JSON.stringify({ failure: { Arn: 'arn:aws:ecs:us-east-1:123456789012:task/c/abc', Reason: 'TASK_NOT_VALID', Detail: 'not part of a service' } }));
      }
      res.end(JSON.stringify({ protection: { ProtectionEnabled: body.ProtectionEnabled, TaskArn: 'arn:aws:ecs:us-east-1:123456789012:task/c/abc', ExpirationDate: null } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  agent.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/api/abc`;
  return agent;
}

const MINUTE = 60_000;

describe('TaskProtection', () => {
  let agent: Awaited<ReturnType<typeof startAgent>>;
  beforeAll(async () => {
    agent = await startAgent();
  });
  afterEach(() => {
    agent.requests.length = 0;
    agent.refuse = false;
  });
  afterAll(async () => {
    await agent.close();
  });

  /** A protection driven by hand: a clock and a running count the test sets. */
  function make(maxMinutes = 30) {
    const state = { now: 0, running: 0, warnings: [] as string[] };
    const log = createLogger({ level: 'info', sink: (line) => JSON.parse(line).level === 'warn' && state.warnings.push(JSON.parse(line).msg) });
    const protection = new TaskProtection({ agentUri: agent.url, running: () => state.running, maxMinutes, log, now: () => state.now });
    return { state, protection };
  }

  it('protects while jobs run, renews before it expires, and releases when none run', async () => {
    // Prepare
    const { state, protection } = make();
    // Act / Assess: idle — nothing asked
    await protection.tick();
    expect(agent.requests).toEqual([]);
    // a job starts
    state.running = 2;
    await protection.tick();
    expect(agent.requests).toEqual([{ method: 'PUT', path: `/api/abc${PROTECTION_PATH}`, contentType: 'application/json', body: { ProtectionEnabled: true, ExpiresInMinutes: 5 } }]);
    expect(protection.protected).toBe(true);
    state.now += 2 * MINUTE;
    await protection.tick();
    expect(agent.requests).toHaveLength(1); // more than half of the request left
    state.now += MINUTE;
    await protection.tick();
    expect(agent.requests.at(-1)!.body).toEqual({ ProtectionEnabled: true, ExpiresInMinutes: 5 }); // renewed
    // the jobs finish
    state.running = 0;
    await protection.tick();
    expect(agent.requests.at(-1)!.body).toEqual({ ProtectionEnabled: false });
    expect(protection.protected).toBe(false);
  });

  it('lets protection go after maxMinutes at a stretch, so a deploy can finish, then protects again after a pause', async () => {
    // Prepare: continuous load
    const { state, protection } = make(12);
    state.running = 5;
    await protection.tick();
    // Act: renewals until the stretch ends
    for (let t = 0; t < 12; t++) {
      state.now += MINUTE;
      await protection.tick();
    }
    // Assess: never past the stretch, released at its end
    const grants = agent.requests.filter((r) => r.body.ProtectionEnabled);
    expect(grants.map((r) => r.body.ExpiresInMinutes)).toEqual([5, 5, 5, 3]); // at 0, 3, 6 and 9 min: the last one ends at 12
    expect(agent.requests.at(-1)!.body).toEqual({ ProtectionEnabled: false });
    expect(state.warnings).toEqual(['scale-in protection: stretch limit reached; unprotected for a while so a waiting deploy or scale-in can proceed']);
    // during the pause, jobs still running are not protected
    const count = agent.requests.length;
    state.now += MINUTE;
    await protection.tick();
    expect(agent.requests).toHaveLength(count);
    // after it, a new stretch
    state.now += MINUTE;
    await protection.tick();
    expect(agent.requests.at(-1)!.body).toEqual({ ProtectionEnabled: true, ExpiresInMinutes: 5 });
  });

  it('logs an agent that refuses and asks again at the next tick', async () => {
    // Prepare
    const { state, protection } = make();
    state.running = 1;
    agent.refuse = true;
    // Act
    await protection.tick();
    // Assess
    expect(protection.protected).toBe(false);
    expect(state.warnings).toEqual(['scale-in protection: the ECS agent refused; will ask again']);
    agent.refuse = false;
    await protection.tick();
    expect(protection.protected).toBe(true);
    expect(agent.requests).toHaveLength(2);
  });
});

describe('the poller on ECS', () => {
  const t = useRedis();
  let agent: Awaited<ReturnType<typeof startAgent>>;
  let stack: Stack | undefined;
  beforeAll(async () => {
    agent = await startAgent();
  });
  afterAll(async () => {
    await stack?.close();
    await agent.close();
  });

  it('is protected exactly while a job runs, and releases protection when it stops', async () => {
    // Prepare: the environment ECS and the construct give the poller
    stack = await startStack(t.url, [{ class: 'SlowJob', queue: 'slow', handler: 'slow', timeoutSeconds: 30 }], {
      ECS_AGENT_URI: agent.url,
      SIDEKIQ_LAMBDA_PROTECTION_MAX_MINUTES: '30',
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect(agent.requests).toEqual([]); // idle: never protected
    // Act: a job that runs a while
    await t.redis.lpush('queue:slow', await renderJob(t.redis, 'SlowJob', 'slow', [2]));
    // Assess: protected while it runs, released after
    await eventually(() => agent.requests.some((r) => r.body.ProtectionEnabled), 10_000, 'protection on');
    expect((await executions(t.redis)).size).toBe(0); // still running when protection was asked for
    await eventually(async () => (await executions(t.redis)).size === 1, 10_000, 'the job to finish');
    await eventually(() => agent.requests.at(-1)?.body.ProtectionEnabled === false, 10_000, 'protection off');
    // a second job is running when the poller is told to stop: it lets protection go on its way out
    await t.redis.lpush('queue:slow', await renderJob(t.redis, 'SlowJob', 'slow', [1]));
    await eventually(() => agent.requests.at(-1)?.body.ProtectionEnabled === true, 10_000, 'protection on again');
    await stack.close();
    stack = undefined;
    expect(agent.requests.at(-1)!.body).toEqual({ ProtectionEnabled: false });
  });
});
