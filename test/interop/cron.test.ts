/**
 * Periodic jobs against real sidekiq-cron, once per Sidekiq of the matrix: Debian's Sidekiq 6.4.1 with
 * sidekiq-cron 1.8.0 (keys `cron_jobs`, `cron_job:<name>`), and Sidekiq 7.3.10 with sidekiq-cron 2.4.0
 * (namespaced keys). Entries each side creates are listed, shown (the Web UI's Cron tab, rendered by
 * `Sidekiq::Web` through `Rack::MockRequest`), fired and disabled by the other; Ruby's poller and ours
 * racing on the same fire times enqueue each once.
 */
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { cronCommand } from '../../lib/cli/cron.js';
import { Client } from '../../lib/client.js';
import { resolveCronEntry, type CronEntry } from '../../lib/periodic.js';
import { cronKeys, keys as makeKeys, type CronLayout } from '../../lib/protocol/keys.js';
import { CronPoller } from '../../lib/sidekiq/cron-poller.js';
import { listCronEntries, setCronStatus, syncCronEntries, type CronStore } from '../../lib/sidekiq/cron.js';
import { runScheduler } from '../../lib/sidekiq/scheduled.js';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq, REQUIRE_ACTIVE_JOB, type Sidekiq } from '../support/ruby.js';
import { eventually } from '../support/stack.js';

const t = useRedis();
const K = makeKeys();
/** Fire times in the future, so that Ruby's `last_enqueue_time` (its real clock) never hides them. */
const BASE = Date.parse('2030-01-01T00:00:00Z');

/** What both sidekiq-cron versions need, spelled once: 2.x renamed `enque!` and namespaced `all`. */
const PRELUDE = `
  require 'sidekiq-cron'; require 'json'; require 'erb'
  require 'sidekiq/web'; require 'sidekiq/cron/web'; require 'rack/mock'; require 'rack/session/cookie'
  V2 = Gem.loaded_specs['sidekiq-cron'].version >= Gem::Version.new('2')
  def all_jobs = V2 ? Sidekiq::Cron::Job.all('*') : Sidekiq::Cron::Job.all
  def fire!(job, t) = V2 ? job.test_and_enqueue_for_time!(t) : job.test_and_enque_for_time!(t)
  WEB = Rack::MockRequest.new(Rack::Builder.new { use Rack::Session::Cookie, secret: 's' * 64; run Sidekiq::Web })
  def page(path) = (r = WEB.get(path); [r.status, r.body])
  def job_path(name, action = nil)
    base = V2 ? "/cron/namespaces/default/jobs/#{ERB::Util.url_encode(name)}" : "/cron/#{ERB::Util.url_encode(name)}"
    action ? "#{base}/#{action == :enqueue && !V2 ? 'enque' : action}" : base
  end
  # A button of the Cron tab: the form's CSRF token and the session cookie, as a browser sends them.
  def press(path)
    r = WEB.get('/cron')
    token = r.body[/name=['"]authenticity_token['"] value=['"]([^'"]+)['"]/, 1]
    WEB.post(path, 'HTTP_COOKIE' => r['Set-Cookie'].split(';').first, params: { 'authenticity_token' => token }).status
  end
`;

const opened: Redis[] = [];
afterEach(() => {
  for (const r of opened.splice(0)) r.disconnect();
});
function connection(): Redis {
  const r = t.redis.duplicate();
  opened.push(r);
  return r;
}

const store = (layout: CronLayout, now: () => number = Date.now): CronStore => ({ redis: t.redis, keys: K, cron: cronKeys(K, layout), namespaces: ['default'], client: new Client({ redis: t.redis, now }) });
const poller = (layout: CronLayout, clock: { now: number }, entries?: readonly CronEntry[]) => new CronPoller({ redis: connection(), keys: K, layout, entries, now: () => clock.now });
const queued = async (q: string) => (await t.redis.lrange(`queue:${q}`, 0, -1)).map((j) => JSON.parse(j) as Record<string, unknown>);
const ruby = (sk: Sidekiq, script: string): Record<string, unknown> => JSON.parse(sk.run(`${PRELUDE}\n${script}`, t.url)) as Record<string, unknown>;

forEachSidekiq((sk) => {
  const version = sk.gems.get('sidekiq-cron');
  if (!version) {
    const why = `the Sidekiq matrix entry ${sk.entry} has no sidekiq-cron in test/ruby/${sk.entry}/Gemfile.lock`;
    if (process.env.CI === 'true') it('needs sidekiq-cron (required under CI=true)', () => expect.fail(why));
    else {
      console.warn(`\n*** SKIPPED sidekiq-cron interop on ${sk.label}: ${why} ***\n`);
      it.skip(`sidekiq-cron interop (${why})`, () => undefined);
    }
    return;
  }
  const layout = Number(version.split('.')[0]) as CronLayout;
  const ck = cronKeys(K, layout);

  describe(`sidekiq-cron ${version}`, () => {
    it('Ruby lists, shows, enqueues, fires and disables the entries we declared', async () => {
      // Prepare: a Lambda class Ruby cannot load, and an ActiveJob class, with a space in a name.
      const entries = [
        resolveCronEntry({ name: 'track users', class: 'TrackUserJob', queue: 'track', cron: '5 * * * *', args: ['daily', { k: 1 }], description: 'nightly' }),
        resolveCronEntry({ name: 'digest', class: 'DigestMailerJob', queue: 'mailers', cron: '0 9 * * *', timezone: 'Europe/Berlin', activeJob: true }),
      ];
      await syncCronEntries(store(layout), entries, { now: Date.now() });
      // Act
      const out = ruby(sk, `
        r = {}
        r[:listed] = all_jobs.sort_by(&:name).map { |j| [j.name, j.klass, j.cron, j.status, j.valid?, j.description] }
        r[:index] = page('/cron')
        r[:show] = page(job_path('track users'))
        r[:enqueue_now] = press(job_path('track users', :enqueue))
        fire!(Sidekiq::Cron::Job.find('track users'), Time.at(${(BASE + 5 * 60_000 + 10_000) / 1000}).utc)
        r[:disable] = press(job_path('digest', :disable))
        puts JSON.dump(r)
      `);
      const ours = await listCronEntries(store(layout));
      const clock = { now: Date.parse('2030-01-01T08:00:05Z') }; // digest's 09:00 in Berlin
      const afterDisable = await poller(layout, clock).tick();
      clock.now = BASE + 5 * 60_000 + 20_000;
      const racingRuby = await poller(layout, clock).tick();
      await setCronStatus(store(layout), 'digest', 'enabled');
      const enabled = ruby(sk, `puts JSON.dump(status: Sidekiq::Cron::Job.find('digest').status)`);
      clock.now = Date.parse('2030-01-01T08:00:06Z');
      const afterEnable = await poller(layout, clock).tick();
      // Assess
      expect(out.listed).toEqual([
        ['digest', 'DigestMailerJob', '0 9 * * * Europe/Berlin', 'enabled', true, ''],
        ['track users', 'TrackUserJob', '5 * * * * UTC', 'enabled', true, 'nightly'],
      ]);
      const [indexStatus, index] = out.index as [number, string];
      expect(indexStatus).toBe(200);
      for (const text of ['track users', 'digest', 'TrackUserJob', 'DigestMailerJob']) expect(index).toContain(text);
      expect((out.show as [number, string])[0]).toBe(200);
      expect((out.show as [number, string])[1]).toContain('TrackUserJob');
      expect([out.enqueue_now, out.disable]).toEqual([302, 302]);
      const track = await queued('track');
      expect(track.map((j) => [j.class, j.queue, j.args, j.retry])).toEqual([
        ['TrackUserJob', 'track', ['daily', { k: 1 }], true],
        ['TrackUserJob', 'track', ['daily', { k: 1 }], true],
      ]);
      expect(await t.redis.zrange(ck.enqueued(ck.entry('track users', 'default')), 0, -1)).toContain('2030-01-01T00:05:00Z');
      // Ruby's save (disable!, enqueue!) rewrites its fields and keeps our mark: the entries stay ours to update and remove.
      expect(ours.map((e) => [e.stored.name, e.stored.status, e.stored.declared])).toEqual([['digest', 'disabled', true], ['track users', 'enabled', true]]);
      expect(afterDisable).toEqual({ fired: 0, taken: 0 });
      expect(racingRuby).toEqual({ fired: 0, taken: 1 }); // Ruby's poller claimed 00:05 first
      expect(enabled).toEqual({ status: 'enabled' });
      expect(afterEnable).toEqual({ fired: 1, taken: 0 }); // the same fire time, once our CLI's enable is back
      expect((await queued('mailers')).map((j) => [j.class, j.wrapped])).toEqual([['ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', 'DigestMailerJob']]);
    });

    it('we list, fire and disable entries Ruby created; Ruby shows our runs and obeys our disable', async () => {
      // Prepare
      ruby(sk, `
        Sidekiq::Cron::Job.create(name: 'rb', cron: '5 * * * *', class: 'RubyOnlyJob', args: [1, { 'a' => 2 }], queue: 'low')
        Sidekiq::Cron::Job.create(name: 'aj', cron: '0 9 * * * Europe/Berlin', class: 'AjJob', active_job: true, queue: 'mailers', args: ['x', 2])
        puts '{}'
      `);
      const lines: string[] = [];
      const listed = await cronCommand(['--redis', t.url, '--cron-version', String(layout)], { out: (l) => lines.push(l), err: () => undefined, tty: false, ask: async () => '' }, () => BASE);
      const clock = { now: BASE + 5 * 60_000 + 3_000 };
      // Act
      const fired = await poller(layout, clock).tick();
      clock.now = Date.parse('2030-01-01T08:00:04Z');
      const firedAj = await poller(layout, clock).tick();
      const [ours] = await queued('low');
      const out = ruby(sk, `
        ${REQUIRE_ACTIVE_JOB}
        class AjJob < ActiveJob::Base; def perform(*a) = ($ran = a); end
        r = {}
        j = Sidekiq::Cron::Job.find('rb')
        r[:last] = j.last_enqueue_time.utc.iso8601
        r[:history] = j.jid_history_from_redis.map { |h| h['jid'] }
        r[:show] = page(job_path('rb'))
        aj = JSON.parse(Sidekiq.redis { |c| c.lindex('queue:mailers', 0) })
        ActiveJob::Base.execute(aj['args'][0])
        r[:aj] = [aj['class'], aj['wrapped'], $ran]
        # What Ruby itself pushes for the entry, for comparison.
        V2 ? j.enqueue! : j.enque!
        r[:rubys] = Sidekiq.redis { |c| c.lindex('queue:low', 0) }
        puts JSON.dump(r)
      `);
      await setCronStatus(store(layout), 'rb', 'disabled');
      const afterDisable = ruby(sk, `
        j = Sidekiq::Cron::Job.find('rb')
        fire!(j, Time.at(${(BASE + 65 * 60_000 + 5_000) / 1000}).utc)
        puts JSON.dump(status: j.status, queued: Sidekiq.redis { |c| c.llen('queue:low') }, index: page('/cron')[1][/disabled|Disabled/])
      `);
      // Assess
      expect(listed).toBe(0);
      expect(lines.find((l) => l.startsWith('rb '))).toMatch(/^rb\s+(default\s+)?enabled\s+5 \* \* \* \*\s+RubyOnlyJob\s+low\s+-\s+2030-01-01 00:05:00 UTC\s+Ruby$/);
      expect([fired, firedAj]).toEqual([{ fired: 1, taken: 0 }, { fired: 1, taken: 0 }]);
      expect(out.last).toBe('2030-01-01T00:05:03Z');
      expect(out.history).toEqual([ours!.jid]);
      expect((out.show as [number, string])[1]).toContain(ours!.jid as string);
      expect(out.aj).toEqual(['ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper', 'AjJob', ['x', 2]]);
      // Byte for byte what Ruby pushes, but for the jid and the times.
      const normalise = (json: string) => json.replace(/"jid":"[0-9a-f]{24}"/, '"jid":"J"').replace(/"(created_at|enqueued_at)":[0-9.]+/g, '"$1":T');
      expect(normalise(JSON.stringify(ours))).toBe(normalise(out.rubys as string));
      expect(afterDisable).toEqual({ status: 'disabled', queued: 2, index: expect.stringMatching(/disabled/i) });
    });

    it('Ruby’s sidekiq-cron and three of our pollers, racing on the same 30 fire times, enqueue each once', async () => {
      // Prepare: Ruby's entry; Ruby waits for the signal to start, so both sides overlap.
      const n = 30;
      ruby(sk, `Sidekiq::Cron::Job.create(name: 'race', cron: '* * * * *', class: 'RaceJob', queue: 'race'); puts '{}'`);
      const child = sk.spawn(['-e', `${PRELUDE}
        Sidekiq.logger.level = Logger::WARN
        Sidekiq.redis { |c| c.set('ruby-ready', '1') }
        sleep 0.005 until Sidekiq.redis { |c| c.get('go') }
        ${n}.times { |k| t = Time.at(${BASE / 1000} + k * 60 + 5).utc; all_jobs.each { |j| fire!(j, t) if j.valid? } }
      `], t.url);
      let err = '';
      child.stderr?.on('data', (d) => (err += String(d)));
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
      await eventually(async () => (await t.redis.get('ruby-ready')) === '1' || child.exitCode !== null, 30_000, 'Ruby to load');
      // Act
      await t.redis.set('go', '1');
      const ticks = await Promise.all(
        [0, 1, 2].map(async () => {
          const clock = { now: 0 };
          const p = poller(layout, clock);
          let fired = 0;
          for (let k = 0; k < n; k++) {
            clock.now = BASE + k * 60_000 + 5_000;
            fired += (await p.tick()).fired;
          }
          return fired;
        }),
      );
      const code = await exited;
      // Assess
      expect([code, err.split('\n').filter((l) => /Error/.test(l))]).toEqual([0, []]);
      const jobs = await queued('race');
      const members = await t.redis.zrange(ck.enqueued(ck.entry('race', 'default')), 0, -1);
      const times = Array.from({ length: n }, (_, k) => new Date(BASE + k * 60_000).toISOString().replace('.000Z', 'Z'));
      expect(jobs).toHaveLength(n);
      expect(members.filter((m) => m.startsWith('2030-'))).toEqual(times);
      const oursFired = ticks.reduce((a, b) => a + b, 0);
      console.info(`sidekiq-cron ${version} race: ${oursFired} of ${n} fire times enqueued by our pollers, ${n - oursFired} by Ruby`);
    });

    it('Ruby’s own Sidekiq::Cron::Poller and our scheduler loop, both on the real clock, enqueue each second once', async () => {
      // Prepare: an every-second entry of ours; Ruby's poller runs until told to stop.
      await syncCronEntries(store(layout), [resolveCronEntry({ name: 'tick', class: 'TickJob', queue: 'ticks', cron: '* * * * * *' })], { now: Date.now() });
      const child = sk.spawn(['-e', `${PRELUDE}
        require 'sidekiq/cron/poller'
        Sidekiq.logger.level = Logger::WARN
        poller = Sidekiq::Cron::Poller.new(defined?(Sidekiq.default_configuration) ? Sidekiq.default_configuration : { cron_poll_interval: 1 })
        until Sidekiq.redis { |c| c.get('stop') }
          poller.enqueue
          sleep 0.02
        end
      `], t.url);
      let err = '';
      child.stderr?.on('data', (d) => (err += String(d)));
      const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
      let stop = false;
      const schedulers = [0, 1].map(() => runScheduler({ redis: connection(), keys: K, lock: false, intervalMs: 20, shouldStop: () => stop, cron: new CronPoller({ redis: connection(), keys: K, layout }) }));
      const key = ck.entry('tick', 'default');
      // Act: until five fire times after creation are claimed.
      await eventually(async () => (await t.redis.zcard(ck.enqueued(key))) >= 6 || child.exitCode !== null, 45_000, 'five fire times');
      await t.redis.set('stop', '1');
      stop = true;
      const summaries = await Promise.all(schedulers);
      const code = await exited;
      // Assess: one job per claimed fire time (the creation's mark is no job), whoever claimed it.
      expect([code, err.split('\n').filter((l) => /Error/.test(l))]).toEqual([0, []]);
      const claimed = (await t.redis.zcard(ck.enqueued(key))) - 1;
      expect(await t.redis.llen('queue:ticks')).toBe(claimed);
      const oursFired = summaries.reduce((a, s) => a + s.cronFired, 0);
      console.info(`sidekiq-cron ${version} real-time race: ${claimed} fire times, ${oursFired} enqueued by our schedulers, ${claimed - oursFired} by Ruby's poller`);
    });
  });
});
