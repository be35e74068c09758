/**
 * The producer against real Ruby Sidekiq and ActiveJob, every entry of the matrix (Debian's 6.4.1 with
 * ActiveJob 6.1; 7.3.x with ActiveJob 7.2):
 * 1. jobs this library enqueues — immediate, scheduled, bulk, ActiveJob — are run by a real
 *    `sidekiq` server, which sees arguments equal (and byte-identical once re-dumped) to what we sent;
 * 2. jobs Ruby enqueues are read by this library (`readJob`, `unwrapActiveJob`) into the expected values;
 * 3. Sidekiq's API (`Sidekiq::Queue` size and latency, `Sidekiq::ScheduledSet`) sees our jobs as its own.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client, defineJob } from '../../lib/client.js';
import { isMalformed, readJob, type JobPayload } from '../../lib/protocol/job.js';
import { readTimestamp } from '../../lib/protocol/time.js';
import { activeJobGlobalId, activeJobKeywords, activeJobSymbol, unwrapActiveJob } from '../../lib/protocol/activejob.js';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq, REQUIRE_ACTIVE_JOB } from '../support/ruby.js';

const t = useRedis();
const JID = /^[0-9a-f]{24}$/;
const RESULTS = 'interop:results';

const clients: Client[] = [];
function makeClient(opts: ConstructorParameters<typeof Client>[0] = {}): Client {
  const c = new Client({ redis: t.url, ...opts });
  clients.push(c);
  return c;
}
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

/** Reads one job we expect to be well-formed. */
function parse(raw: string): JobPayload {
  const r = readJob(raw);
  if (isMalformed(r)) throw new Error(`malformed: ${r.reason}`);
  return r.job;
}

/**
 * The argument shapes issue 2 lists; each row is one job's args, and the JSON Ruby writes when it
 * dumps them again — the same bytes we sent, except Ruby's float spelling (Pitfall 2: `1.5e-07`).
 */
const SHAPES: [name: string, args: unknown[], rubyJson?: string][] = [
  ['emoji and U+2028', ['🙂 héllo \u2028 line\u2029sep \u0000 "quoted" \\ back', '日本語']],
  ['nested hashes', [{ a: { b: { c: [1, { d: 'e' }] } }, list: [[], {}] }]],
  ['integers up to 2^53−1', [0, -1, 2 ** 31, 2 ** 53 - 1, -(2 ** 53 - 1)]],
  // JS writes 1.0 as 1 and 1e20 as 100000000000000000000, so Ruby reads Integers there: equal values.
  ['floats 1.0, 1e20, 0.1', [1.0, 1e20, 0.1, -2.5, 1.5e-7], '[1,100000000000000000000,0.1,-2.5,1.5e-07]'],
  ['null and booleans', [null, true, false]],
  ['empty array and hash', [[], {}]],
  ['no arguments', []],
  ['a 1 MB string', ['x'.repeat(1024 * 1024 - 3) + 'end']],
];

/** Polls until `n` result records arrived from the Ruby side. */
async function results<T>(n: number, timeoutMs = 20_000, server?: { log: () => string }): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const raw = await t.redis.lrange(RESULTS, 0, -1);
    if (raw.length >= n) return raw.map((s) => JSON.parse(s) as T);
    if (Date.now() > deadline) throw new Error(`got ${raw.length} of ${n} results from sidekiq in ${timeoutMs} ms\n${server?.log() ?? ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// A worker file for `sidekiq -r`: each job records what Ruby received, re-dumped with Sidekiq's JSON.
const WORKERS_RB = `
$VERBOSE = nil
require "sidekiq"
require "json"
${REQUIRE_ACTIVE_JOB}
# Poll the schedule about once a second (and start polling within 5 s), so scheduled tests are quick.
if Sidekiq.respond_to?(:default_configuration) # 7.x
  Sidekiq.configure_server { |config| config[:poll_interval_average] = 1 }
else
  Sidekiq.options[:poll_interval_average] = 1
end

class EchoWorker
  include Sidekiq::Worker
  def perform(*args)
    Sidekiq.redis { |c| c.rpush("${RESULTS}", JSON.generate({"jid" => jid, "args_json" => Sidekiq.dump_json(args)})) }
  end
end

class EchoJob < ActiveJob::Base
  def perform(*args, **kw)
    Sidekiq.redis { |c| c.rpush("${RESULTS}", JSON.generate({"job_id" => job_id, "args" => args.inspect, "kw" => kw.inspect, "executions" => executions})) }
  end
end
`;

forEachSidekiq((sk) => describe('interop: jobs this library enqueues run on a real sidekiq server', () => {
  let dir = '';
  let server: ChildProcess | undefined;
  let log = '';
  const serverLog = { log: () => `--- sidekiq output ---\n${log.slice(-4000)}` };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'skl-interop-'));
    const file = join(dir, 'workers.rb');
    writeFileSync(file, WORKERS_RB);
    server = sk.spawn([sk.bin('sidekiq'), '-r', file, '-q', 'interop', '-q', 'interop_bulk', '-c', '5', '-t', '3'], t.url);
    server.stdout?.on('data', (d: Buffer) => (log += d.toString()));
    server.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    // Ready once its heartbeat registers the process.
    const deadline = Date.now() + 30_000;
    while ((await t.redis.scard('processes')) === 0) {
      if (server.exitCode !== null) throw new Error(`sidekiq exited with ${server.exitCode}\n${log}`);
      if (Date.now() > deadline) throw new Error(`sidekiq did not start in 30 s\n${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    const s = server;
    if (s && s.exitCode === null) {
      const exited = new Promise((r) => s.once('exit', r));
      s.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
      if (s.exitCode === null) s.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(SHAPES)('push: %s arrive equal, and byte-identical when Ruby dumps them again', async (_name, args, rubyJson) => {
    // Prepare
    const client = makeClient();
    // Act
    const jid = await client.push({ class: 'EchoWorker', queue: 'interop', args });
    // Assess
    const [got] = await results<{ jid: string; args_json: string }>(1, 20_000, serverLog);
    expect(got!.jid).toBe(jid);
    expect(JSON.parse(got!.args_json)).toEqual(args);
    expect(got!.args_json).toBe(rubyJson ?? JSON.stringify(args));
    expect(await t.redis.llen('queue:interop')).toBe(0);
  });

  it('performIn: scheduled jobs of every shape are promoted by Sidekiq and run with equal arguments', async () => {
    const client = makeClient();
    const jids = await Promise.all(SHAPES.map(([, args]) => client.push(client.scheduled({ class: 'EchoWorker', queue: 'interop', args }, 1)))) as string[];
    expect(await t.redis.zcard('schedule')).toBe(SHAPES.length);
    const got = await results<{ jid: string; args_json: string }>(SHAPES.length, 30_000, serverLog);
    const byJid = new Map(got.map((g) => [g.jid, g.args_json]));
    jids.forEach((jid, i) => expect(JSON.parse(byJid.get(jid)!), SHAPES[i]![0]).toEqual(SHAPES[i]![1]));
    expect(await t.redis.zcard('schedule')).toBe(0);
  });

  it('pushBulk: every job of a bulk push runs once, with its own jid and arguments', async () => {
    const client = makeClient();
    const bulk = [...SHAPES.map(([, args]) => args), ...Array.from({ length: 200 }, (_, i) => [i, `n${i}`])];
    const jids = await client.pushBulk({ class: 'EchoWorker', queue: 'interop_bulk', args: bulk, batchSize: 50 }) as string[];
    const got = await results<{ jid: string; args_json: string }>(bulk.length, 30_000, serverLog);
    expect(got).toHaveLength(bulk.length);
    const byJid = new Map(got.map((g) => [g.jid, g.args_json]));
    expect(byJid.size).toBe(bulk.length);
    jids.forEach((jid, i) => expect(JSON.parse(byJid.get(jid)!)).toEqual(bulk[i]));
  });

  it('pushBulk with an `at` array: the scheduled jobs run too', async () => {
    const client = makeClient();
    const now = Date.now() / 1000;
    const jids = await client.pushBulk({ class: 'EchoWorker', queue: 'interop', args: [['a'], ['b'], ['c']], at: [now + 1, now - 10, now + 2] });
    const got = await results<{ jid: string; args_json: string }>(3, 30_000, serverLog);
    expect(new Map(got.map((g) => [g.jid, g.args_json]))).toEqual(new Map([[jids[0]!, '["a"]'], [jids[1]!, '["b"]'], [jids[2]!, '["c"]']]));
  });

  it('defineJob({ activeJob: true }): ActiveJob runs perform with symbols, keywords and a hash as Ruby would', async () => {
    const client = makeClient();
    const EchoJob = defineJob<unknown[]>('EchoJob', { activeJob: true, queue: 'interop', client });
    await EchoJob.performAsync(activeJobSymbol('fast'), { 'a': 1, 'nested': [true, null] }, 'plain', activeJobKeywords({ n: 2, label: 'x' }));
    const [got] = await results<{ args: string; kw: string; executions: number }>(1, 20_000, serverLog);
    expect(got).toEqual({ job_id: expect.stringMatching(/^[0-9a-f-]{36}$/), args: '[:fast, {"a"=>1, "nested"=>[true, nil]}, "plain"]', kw: '{:n=>2, :label=>"x"}', executions: 1 });
  });
}));

// Ruby enqueues; this library reads.
const RUBY_ENQUEUE = `
$VERBOSE = nil
require "sidekiq"
require "json"
${REQUIRE_ACTIVE_JOB}
require "global_id"
require "active_support/time"
Sidekiq.logger.level = Logger::WARN

class RubyWorker
  include Sidekiq::Worker
  sidekiq_options queue: "fromruby"
  def perform(*) = nil
end

GlobalID.app = "app"
class User
  include GlobalID::Identification
  attr_reader :id
  def initialize(id) = @id = id
  def self.find(id) = new(id)
end

Time.zone = "UTC"
class RubyAJ < ActiveJob::Base
  queue_as :fromruby_aj
  def perform(*, **) = nil
end

t0 = Time.now.to_f
out = {}
out["async"] = RubyWorker.perform_async(1, "two", {"k" => 3.5}, nil, true, [1, [2]], 9007199254740991, "🙂\\u2028")
out["in"] = RubyWorker.perform_in(3600, "later")
out["bulk"] = Sidekiq::Client.push_bulk("class" => RubyWorker, "args" => [[1], [2], [3]])
out["hash"] = Sidekiq::Client.push("class" => "PlainClass", "queue" => "fromruby_hash", "args" => [{"a" => 1, "nested" => {"b" => [1, 2.5, nil]}}], "retry" => 3, "custom_key" => "x")
out["aj"] = RubyAJ.perform_later(:sym, {"str" => 1, sym: :val}, User.new(42), Time.utc(2024, 1, 2, 3, 4, 5, 123456), kw: 3, at: Time.utc(2025, 6, 7, 8, 9, 10)).job_id
out["aj_later"] = RubyAJ.set(wait: 600).perform_later("soon").job_id
out["t0"] = t0
out["t1"] = Time.now.to_f
print JSON.generate(out)
`;

forEachSidekiq((sk) => describe('interop: jobs Ruby enqueues are read by this library', () => {
  interface Enqueued {
    async: string;
    in: string;
    bulk: string[];
    hash: string;
    aj: string;
    aj_later: string;
    t0: number;
    t1: number;
  }
  let out: Enqueued;
  let lists: Record<string, string[]>;
  let schedule: string[];

  beforeAll(async () => {
    await t.redis.flushdb();
    out = JSON.parse(sk.run(RUBY_ENQUEUE, t.url)) as Enqueued;
    lists = {};
    for (const q of ['fromruby', 'fromruby_hash', 'fromruby_aj']) lists[q] = (await t.redis.lrange(`queue:${q}`, 0, -1)).reverse();
    schedule = await t.redis.zrange('schedule', 0, -1, 'WITHSCORES');
  });
  // useRedis flushes before each test; these tests only read what beforeAll captured.

  it('perform_async: class, queue, args (unicode, 2^53−1), jid, retry and a float-second created_at', () => {
    const job = parse(lists.fromruby![0]!);
    expect(job).toMatchObject({ class: 'RubyWorker', queue: 'fromruby', retry: true, jid: out.async });
    expect(job.args).toEqual([1, 'two', { k: 3.5 }, null, true, [1, [2]], 2 ** 53 - 1, '🙂\u2028']);
    expect(readTimestamp(job.created_at)! / 1000).toBeGreaterThanOrEqual(out.t0);
    expect(readTimestamp(job.enqueued_at)! / 1000).toBeLessThanOrEqual(out.t1);
  });

  it('push_bulk: three jobs, own jids, one shared created_at', () => {
    const jobs = lists.fromruby!.slice(1).map(parse);
    expect(jobs.map((j) => j.jid)).toEqual(out.bulk);
    expect(jobs.map((j) => j.args)).toEqual([[1], [2], [3]]);
    expect(new Set(jobs.map((j) => j.created_at)).size).toBe(1);
  });

  it('Sidekiq::Client.push with a hash argument and custom keys', () => {
    const job = parse(lists.fromruby_hash![0]!);
    expect(job).toMatchObject({ class: 'PlainClass', queue: 'fromruby_hash', retry: 3, custom_key: 'x', jid: out.hash });
    expect(job.args).toEqual([{ a: 1, nested: { b: [1, 2.5, null] } }]);
  });

  it('perform_in: in schedule, scored in float seconds an hour ahead, without `at`', () => {
    const i = schedule.findIndex((m, k) => k % 2 === 0 && m.includes(out.in));
    const job = parse(schedule[i]!);
    expect(job).toMatchObject({ class: 'RubyWorker', args: ['later'], jid: out.in });
    expect(schedule[i]!).not.toContain('"at"');
    const score = Number(schedule[i + 1]);
    expect(score).toBeGreaterThanOrEqual(out.t0 + 3600);
    expect(score).toBeLessThanOrEqual(out.t1 + 3600);
  });

  it('ActiveJob perform_later: unwrapped with symbols, a symbol-keyed hash, a GlobalID, Times and keywords decoded', () => {
    const job = parse(lists.fromruby_aj![0]!);
    expect(job).toMatchObject({ class: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', wrapped: 'RubyAJ', queue: 'fromruby_aj' });
    expect(job.jid).toMatch(JID);
    const aj = unwrapActiveJob(job);
    expect(aj).toBeDefined();
    expect(aj!.jobClass).toBe('RubyAJ');
    expect(aj!.data).toMatchObject({ job_id: out.aj, queue_name: 'fromruby_aj', provider_job_id: null, executions: 0 });
    expect(aj!.arguments).toEqual([
      'sym',
      { str: 1, sym: 'val' },
      'gid://app/User/42',
      new Date('2024-01-02T03:04:05.123Z'),
      { kw: 3, at: new Date('2025-06-07T08:09:10Z') },
    ]);
  });

  it('ActiveJob set(wait:).perform_later: scheduled, and readable the same way', () => {
    const i = schedule.findIndex((m, k) => k % 2 === 0 && m.includes(out.aj_later));
    const aj = unwrapActiveJob(parse(schedule[i]!));
    expect(aj!.arguments).toEqual(['soon']);
    expect(Number(schedule[i + 1])).toBeGreaterThanOrEqual(out.t0 + 600);
  });
}));

const INSPECT = `
$VERBOSE = nil
require "sidekiq"
require "sidekiq/api"
require "json"
Sidekiq.logger.level = Logger::WARN
q = Sidekiq::Queue.new(ARGV[0] || "observed")
ss = Sidekiq::ScheduledSet.new
print JSON.generate(
  "queues" => Sidekiq::Queue.all.map(&:name),
  "size" => q.size,
  "latency" => q.latency,
  "jobs" => q.map { |j| {"jid" => j.jid, "klass" => j.klass, "display_class" => j.display_class, "args" => j.display_args, "enqueued_at" => j.enqueued_at&.to_f, "created_at" => j.created_at.to_f} },
  "scheduled_size" => ss.size,
  "scheduled" => ss.map { |e| {"jid" => e.jid, "klass" => e.klass, "args" => e.args, "at" => e.at.to_f, "queue" => e.queue} },
  "found" => ss.find_job(ENV["FIND_JID"].to_s)&.jid,
  "stats" => {"enqueued" => Sidekiq::Stats.new.enqueued, "scheduled" => Sidekiq::Stats.new.scheduled_size},
)
`;

interface Inspected {
  queues: string[];
  size: number;
  latency: number;
  jobs: { jid: string; klass: string; display_class: string; args: unknown[]; enqueued_at: number; created_at: number }[];
  scheduled_size: number;
  scheduled: { jid: string; klass: string; args: unknown[]; at: number; queue: string }[];
  found: string | null;
  stats: { enqueued: number; scheduled: number };
}

forEachSidekiq((sk) => describe("interop: Sidekiq's API sees our jobs as its own", () => {
  it('Sidekiq::Queue#size and #latency: ≈ 0 s for a fresh job', async () => {
    const client = makeClient();
    const jids = [await client.push({ class: 'ObservedWorker', queue: 'observed', args: [1, 'a'] }), await client.push({ class: 'ObservedWorker', queue: 'observed', args: [2, 'b'] })];
    const seen = JSON.parse(sk.run(INSPECT, t.url)) as Inspected;
    expect(seen.queues).toEqual(['observed']);
    expect(seen.size).toBe(2);
    expect(seen.latency).toBeGreaterThanOrEqual(0);
    expect(seen.latency).toBeLessThan(3);
    expect(seen.jobs.map((j) => [j.jid, j.klass, j.args])).toEqual([
      [jids[1], 'ObservedWorker', [2, 'b']],
      [jids[0], 'ObservedWorker', [1, 'a']],
    ]);
    expect(seen.stats.enqueued).toBe(2);
  });

  it('Sidekiq::Queue#latency counts from our enqueued_at (a job enqueued 30 s ago shows ≈ 30 s)', async () => {
    const client = makeClient({ now: () => Date.now() - 30_000 });
    await client.push({ class: 'ObservedWorker', queue: 'observed', args: [] });
    const seen = JSON.parse(sk.run(INSPECT, t.url)) as Inspected;
    expect(seen.latency).toBeGreaterThan(29);
    expect(seen.latency).toBeLessThan(33);
  });

  it('Sidekiq::ScheduledSet lists our scheduled jobs at the right time and finds them by jid', async () => {
    const client = makeClient();
    const at = Math.floor(Date.now() / 1000) + 3600 + 0.25;
    const jid = await client.performAt(at, 'LaterWorker', { when: 'later' }) as string;
    await client.performIn(600, 'LaterWorker', 'other');
    const seen = JSON.parse(sk.run(INSPECT, t.url, { FIND_JID: jid })) as Inspected;
    expect(seen.scheduled_size).toBe(2);
    expect(seen.stats.scheduled).toBe(2);
    const mine = seen.scheduled.find((s) => s.jid === jid)!;
    expect(mine).toMatchObject({ klass: 'LaterWorker', args: [{ when: 'later' }], queue: 'default' });
    expect(mine.at).toBeCloseTo(at, 3);
    expect(seen.found).toBe(jid);
  });

  it('an ActiveJob we enqueue shows under its wrapped class with its arguments', async () => {
    const client = makeClient();
    const Mailer = defineJob<unknown[]>('WelcomeJob', { activeJob: true, queue: 'observed', client });
    await Mailer.performAsync(activeJobGlobalId('gid://app/User/7'), 'hi');
    const seen = JSON.parse(sk.run(INSPECT, t.url)) as Inspected;
    expect(seen.jobs).toHaveLength(1);
    expect(seen.jobs[0]).toMatchObject({ klass: 'ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', display_class: 'WelcomeJob' });
    // 7.x's JobRecord#display_args shows a GlobalID as its string (api.rb deserialize_argument); 6.x the raw hash.
    expect(seen.jobs[0]!.args).toEqual([sk.major >= 7 ? 'gid://app/User/7' : { _aj_globalid: 'gid://app/User/7' }, 'hi']);
    expect(seen.latency).toBeLessThan(3);
  });

  // Sidekiq 7 dropped redis-namespace, so only the 6.x entries (whose Gemfile carries the gem) have this test.
  if (sk.major < 7) it('with a namespace, Sidekiq (redis-namespace) sees our jobs under it', async () => {
    const client = makeClient({ namespace: 'myapp' });
    await client.push({ class: 'NsWorker', queue: 'observed', args: [1] });
    const script = INSPECT.replace('require "json"', 'require "json"\nrequire "redis/namespace"\nSidekiq.configure_client { |c| c.redis = {url: ENV["REDIS_URL"], namespace: "myapp"} }');
    const seen = JSON.parse(sk.run(script, t.url)) as Inspected;
    expect(seen.queues).toEqual(['observed']);
    expect(seen.size).toBe(1);
  });
}));
