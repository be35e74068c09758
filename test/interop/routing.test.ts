/**
 * The Ruby side of per-class routing — the sidekiq-lambda gem (ruby/sidekiq-lambda), loaded as a Rails app loads it
 * (`gem "sidekiq-lambda", path: …` in each matrix entry's Gemfile) — on every Sidekiq of the matrix:
 * it decides every job as the TypeScript side does; its client middleware routes perform_async, perform_in,
 * push_bulk, Client.push and ActiveJob; its fetch hook forwards a job enqueued without the middleware before Ruby
 * loads the class (no NameError) and holds a paused class's jobs; the Web UI's Lambda tab shows and changes routes
 * behind the Web UI's CSRF protection; and (7.x) Sidekiq's own Metrics tab shows the runs on Lambda.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq, type Sidekiq } from '../support/ruby.js';
import { eventually } from '../support/stack.js';
import { appEnv, ROUTING_APP, startSidekiq, rubyRuns, type SidekiqServer } from '../support/sidekiq-server.js';
import { keys as makeKeys } from '../../lib/protocol/keys.js';
import { readJob, type JobPayload } from '../../lib/protocol/job.js';
import { jidDraw, markPayload, placement, ROUTED_FROM, type Declaration, type RouteEntry } from '../../lib/protocol/routing.js';
import { changeRoute, loadView, publishDeclarations } from '../../lib/routing/table.js';
import { releaseHeld } from '../../lib/routing/migrate.js';
import { RunRecorder } from '../../lib/poller/recorder.js';
import { createLogger } from '../../lib/log.js';
import { Client } from '../../lib/client.js';
import type { Route } from '../../lib/jobs.js';

const t = useRedis();
const K = makeKeys();
const shared = (cls: string): Route => ({ class: cls, queue: 'default', function: `fn-${cls}`, timeoutSeconds: 30, concurrency: 10, batchSize: 1, shared: true });
const entry = (percent: number, paused = false, by = 'test'): RouteEntry => ({ percent, paused, by, at: Date.now() });
const parsed = (raw: string): JobPayload => (readJob(raw) as { job: JobPayload }).job;
/** The poller's writer of per-side stats and (7, 8) Sidekiq's Metrics. */
const recorder = (version: 6 | 7): RunRecorder => new RunRecorder({ redis: t.redis, keys: K, version, log: createLogger({ sink: () => undefined }) });

let server: SidekiqServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

/** Ruby with the routing app (and so the gem) loaded. */
function ruby(sk: Sidekiq, script: string): string {
  return sk.run(`require ${JSON.stringify(ROUTING_APP)}\n${script}`, t.url, appEnv());
}

/** The last line of output, as JSON. */
const lastJson = (out: string): unknown => JSON.parse(out.trim().split('\n').pop()!);

forEachSidekiq((sk) => describe('the sidekiq-lambda gem', () => {
  function rubyWith(script: string, env: Record<string, string>): string {
    return sk.run(`require ${JSON.stringify(ROUTING_APP)}\n${script}`, t.url, appEnv(env));
  }

  it('decides every job exactly as the TypeScript side does (jid draws and placements)', () => {
    // Prepare: a spread of jids, routes and jobs, every kind of place
    const jids = Array.from({ length: 300 }, (_, i) => (i * 7919 + 17).toString(16).padStart(24, '0'));
    const decl: Declaration = { queue: 'default', shared: true, lambdaQueue: 'lambda.A', by: 'p', at: 1 };
    const routeSets: Record<string, RouteEntry>[] = [{}, { A: entry(0) }, { A: entry(37.5) }, { A: entry(100) }, { A: entry(60, true) }];
    const jobs = [
      { queue: 'default', class: 'A' },
      { queue: 'lambda.A', class: 'A', routed_from: 'low' },
      { queue: 'lambda.A', class: 'A' },
      { queue: 'default', class: 'Sidekiq::ActiveJob::Wrapper', wrapped: 'A' },
      { queue: 'default', class: 'B' },
      { queue: 'default', class: 'A', ruby_only: 'bid' },
      { queue: 'lambda.A', class: 'A', routed_from: 'low', ruby_only: 'encrypt' },
    ];
    const cases = routeSets.flatMap((_r, v) =>
      jobs.flatMap((j, ji) => ['default', 'lambda.A', 'held'].flatMap((where) => [0, 1, 2, 3].map((n) => ({ v, where, job: { retry: true, ...j, args: [1.5], jid: jids[(v * 60 + ji * 12 + n * 3 + where.length) % 300]! } })))),
    );
    // Act
    const out = lastJson(rubyWith(`
      require "json"
      R = SidekiqLambda::Routing
      input = JSON.parse(ENV.fetch("CASES"))
      views = input["routes"].map { |rs| R::View.new(rs.transform_values { |e| R.read_entry(JSON.generate(e)) }, {"A" => R.read_declaration(JSON.generate(input["decl"]))}) }
      puts JSON.generate({
        draws: input["jids"].map { |j| R.jid_draw(j) },
        placements: input["cases"].map { |c| R.placement(views[c["v"]], c["job"], c["where"] == "held" ? :held : c["where"]).map { |x| x.is_a?(Symbol) ? x.to_s : x } },
      })
    `, { CASES: JSON.stringify({ jids, routes: routeSets, decl, cases }) })) as { draws: number[]; placements: unknown[][] };
    // Assess
    expect(out.draws).toEqual(jids.map(jidDraw));
    const ours = cases.map((c) => {
      const raw = JSON.stringify(c.job);
      const p = placement({ routes: new Map(Object.entries(routeSets[c.v]!)), declared: new Map([['A', decl]]) }, { raw, job: c.job as JobPayload }, c.where);
      return p.kind === 'stay' ? ['stay'] : p.kind === 'hold' ? ['hold', JSON.parse(p.payload)] : ['move', p.queue, JSON.parse(p.payload), p.side];
    });
    expect(out.placements).toEqual(ours);
    // A job the poller pinned to Ruby (`ruby_only`) never moves to Lambda, whatever the share; it does move back to Ruby.
    const pinned = ours.filter((_o, i) => 'ruby_only' in cases[i]!.job);
    expect(pinned.filter((o) => o[0] === 'move' && o[3] === 'lambda')).toEqual([]);
    expect(pinned.some((o) => o[0] === 'move' && o[3] === 'ruby')).toBe(true);
    expect(new Set(ours.map((o) => o[0]))).toEqual(new Set(['stay', 'hold', 'move']));
  });

  it('routes perform_async, perform_in, push_bulk, Client.push and ActiveJob at enqueue; Ruby still sees every job', async () => {
    // Prepare: TrackUserJob 30% on Lambda, the ActiveJob class 100%, RubyOnlyJob unrouted
    await publishDeclarations(t.redis, K, [shared('TrackUserJob'), shared('TrackUserActiveJob')], 'poller-1', Date.now());
    await changeRoute(t.redis, K, 'TrackUserJob', entry(30), 'test', Date.now());
    await changeRoute(t.redis, K, 'TrackUserActiveJob', entry(100), 'test', Date.now());
    // Act
    const out = lastJson(ruby(sk, `
      require "json"; require "sidekiq/api"
      bulk = Sidekiq::Client.push_bulk("class" => TrackUserJob, "args" => (1..300).map { |i| [i] })
      one = TrackUserJob.perform_async("one")
      later = TrackUserJob.perform_in(600, "later")
      low = Sidekiq::Client.push("class" => "TrackUserJob", "queue" => "low", "args" => ["low"])
      plain = RubyOnlyJob.perform_async("plain")
      aj = TrackUserActiveJob.perform_later("aj").provider_job_id
      aj_later = TrackUserActiveJob.set(wait: 600).perform_later("aj later").provider_job_id
      puts JSON.generate({
        bulk: bulk, one: one, later: later, low: low, plain: plain, aj: aj, aj_later: aj_later,
        sizes: %w[default low lambda.TrackUserJob lambda.TrackUserActiveJob].to_h { |q| [q, Sidekiq::Queue.new(q).size] },
        scheduled: Sidekiq::ScheduledSet.new.map { |e| [e.jid, e.queue, e.display_class] }.sort,
      })
    `)) as { bulk: string[]; one: string; later: string; low: string; plain: string; aj: string; aj_later: string; sizes: Record<string, number>; scheduled: [string, string, string][] };
    // Assess: each job on its side, Lambda's share marked with its queue
    const onLambda = (await t.redis.lrange('queue:lambda.TrackUserJob', 0, -1)).map(parsed);
    const inRuby = [...(await t.redis.lrange('queue:default', 0, -1)), ...(await t.redis.lrange('queue:low', 0, -1))].map(parsed);
    const track = [...out.bulk, out.one, out.low];
    for (const jid of track) {
      const side = jidDraw(jid) < 0.3 ? onLambda : inRuby;
      expect(side.map((j) => j.jid)).toContain(jid);
    }
    for (const j of onLambda) expect([j.class, j.queue, j[ROUTED_FROM]]).toEqual(['TrackUserJob', 'lambda.TrackUserJob', j.jid === out.low ? 'low' : 'default']);
    for (const j of inRuby) expect(j[ROUTED_FROM]).toBeUndefined();
    expect(onLambda.length).toBe(track.filter((j) => jidDraw(j) < 0.3).length);
    expect(onLambda.length).toBeGreaterThan(60);
    expect(onLambda.length).toBeLessThan(120);
    // Nothing else changes: a marked payload holds an unmarked one's keys, in order, plus routed_from
    const keysOf = (j: JobPayload): string[] => Object.keys(j).filter((k) => k !== ROUTED_FROM);
    const fromBulk = (jobs: JobPayload[]): JobPayload => jobs.find((j) => out.bulk.includes(j.jid))!;
    expect(keysOf(fromBulk(onLambda))).toEqual(keysOf(fromBulk(inRuby)));
    expect(Object.keys(fromBulk(onLambda)).slice(-2)).toEqual([ROUTED_FROM, 'enqueued_at']);
    expect(inRuby.find((j) => j.jid === out.plain)).toMatchObject({ class: 'RubyOnlyJob', queue: 'default' });
    const aj = parsed((await t.redis.lrange('queue:lambda.TrackUserActiveJob', 0, -1))[0]!);
    expect([aj.jid, aj.wrapped, aj.queue, aj[ROUTED_FROM]]).toEqual([out.aj, 'TrackUserActiveJob', 'lambda.TrackUserActiveJob', 'default']);
    // Ruby's own API sees them where they are
    expect(out.sizes).toEqual({ default: inRuby.filter((j) => j.queue === 'default').length, low: jidDraw(out.low) < 0.3 ? 0 : 1, 'lambda.TrackUserJob': onLambda.length, 'lambda.TrackUserActiveJob': 1 });
    const sched = Object.fromEntries(out.scheduled.map(([jid, q]) => [jid, q]));
    expect(sched[out.later]).toBe(jidDraw(out.later) < 0.3 ? 'lambda.TrackUserJob' : 'default');
    expect(sched[out.aj_later]).toBe('lambda.TrackUserActiveJob');
  });

  it('a Sidekiq server forwards what a client without the middleware enqueued before loading its class, and holds a paused class', async () => {
    // Prepare: GoneJob exists only on Lambda (no Ruby class), routed 100%; TrackUserJob paused; RubyOnlyJob unrouted
    await publishDeclarations(t.redis, K, [shared('GoneJob'), shared('TrackUserJob')], 'poller-1', Date.now());
    await changeRoute(t.redis, K, 'GoneJob', entry(100), 'test', Date.now());
    await changeRoute(t.redis, K, 'TrackUserJob', entry(0, true), 'test', Date.now());
    const plain = new Client({ redis: t.redis, routing: false }); // a client without the middleware
    const gone = await plain.pushBulk({ class: 'GoneJob', args: [[1], [2], [3]] });
    const held = await plain.pushBulk({ class: 'TrackUserJob', args: [[1], [2]] }) as string[];
    const [ruby1] = await plain.pushBulk({ class: 'RubyOnlyJob', args: [[1]] });
    // Act
    server = await startSidekiq(sk, t.url, t.redis, { concurrency: 2 });
    // Assess
    await eventually(async () => (await t.redis.llen('queue:lambda.GoneJob')) === 3 && (await t.redis.llen(K.held('TrackUserJob'))) === 2 && (await rubyRuns(t.redis)).has(ruby1!), 20_000, 'forwarded, held and run');
    const forwarded = (await t.redis.lrange('queue:lambda.GoneJob', 0, -1)).map(parsed);
    expect(forwarded.map((j) => [j.jid, j.queue, j[ROUTED_FROM]]).sort()).toEqual(gone.map((jid) => [jid, 'lambda.GoneJob', 'default']).sort());
    expect((await t.redis.lrange(K.held('TrackUserJob'), 0, -1)).map((r) => parsed(r).jid).sort()).toEqual([...held].sort());
    expect([await t.redis.zcard('retry'), await t.redis.zcard('dead'), await t.redis.llen('queue:default')]).toEqual([0, 0, 0]);
    expect(server.output()).not.toMatch(/NameError|uninitialized constant/);
    // And once TrackUserJob runs in Ruby again, its runs count on Ruby's side of the stats. (Until the server's cache
    // takes the new route it may still hold the job: a resume releases what was held, as `route --resume` does.)
    await changeRoute(t.redis, K, 'TrackUserJob', entry(0), 'test', Date.now());
    const jid = await plain.push({ class: 'TrackUserJob', args: [3] }) as string;
    // The two held jobs are released and run too.
    const ran = async (): Promise<boolean> => [jid, ...held].every((j) => runs.has(j));
    let runs = new Map<string, number>();
    await eventually(async () => (await releaseHeld({ redis: t.redis, keys: K }, 'TrackUserJob')) >= 0 && (runs = await rubyRuns(t.redis)) && ran(), 20_000, 'the Ruby runs');
    await server.stop();
    let p = 0;
    for (const at of [Date.now(), Date.now() - 60_000]) p += Number((await t.redis.hget(K.routeStats(at), 'TrackUserJob|ruby|p')) ?? 0);
    expect(p).toBe(3);
  });

  describe('the Lambda tab', () => {
    /** Runs requests against Sidekiq::Web with a cookie session, keeping the cookie; returns status, Location and body. */
    function web(requests: { method: 'GET' | 'POST'; path: string; form?: Record<string, string>; token?: boolean }[]): { status: number; location: string; body: string }[] {
      return lastJson(rubyWith(`
        require "json"; require "sidekiq/web"; require "sidekiq_lambda/web"; require "rack/mock"; require "rack/session/cookie" rescue require "rack/session"
        SidekiqLambda::Web.migration_wait = 0
        app = Rack::MockRequest.new(Rack::Builder.new { use Rack::Session::Cookie, secret: "s" * 64; run Sidekiq::Web })
        cookie = nil; token = nil
        out = JSON.parse(ENV.fetch("REQUESTS")).map do |r|
          env = { "REMOTE_ADDR" => "10.0.0.7" }
          env["HTTP_COOKIE"] = cookie if cookie
          form = r["form"] || {}
          form = form.merge("authenticity_token" => token) if r["token"]
          res = r["method"] == "GET" ? app.get(r["path"], env) : app.post(r["path"], env.merge(params: form))
          cookie = res["Set-Cookie"].split(";").first if res["Set-Cookie"]
          token = res.body[/name=.authenticity_token. value=.([^'"]+)/, 1] || token
          { status: res.status, location: res["Location"].to_s, body: res.body }
        end
        puts JSON.generate(out)
      `, { REQUESTS: JSON.stringify(requests) })) as { status: number; location: string; body: string }[];
    }

    it('shows each class with its route, jobs per side, held jobs, the last hour and the latest changes', async () => {
      // Prepare
      await publishDeclarations(t.redis, K, [shared('TrackUserJob'), { ...shared('OwnJob'), queue: 'own', shared: false }], 'poller-1', Date.now());
      await changeRoute(t.redis, K, 'TrackUserJob', entry(10, false, 'alice@laptop'), 'alice@laptop', Date.now());
      const c = new Client({ redis: t.redis, routing: false });
      await c.pushBulk({ class: 'TrackUserJob', args: [[1], [2], [3]] });
      await t.redis.lpush('queue:lambda.TrackUserJob', markPayload(JSON.stringify({ class: 'TrackUserJob', queue: 'default', args: [], jid: 'a' }), 'lambda.TrackUserJob', 'default'));
      await t.redis.lpush(K.held('TrackUserJob'), JSON.stringify({ class: 'TrackUserJob', queue: 'default', args: [], jid: 'h' }));
      const s = recorder(6); // the per-side stats only
      for (const ms of [40, 60]) s.record('TrackUserJob', true, ms);
      s.record('TrackUserJob', false, 9);
      await s.flush();
      // Act
      const [page] = web([{ method: 'GET', path: '/lambda' }]);
      // Assess
      expect(page!.status).toBe(200);
      const body = page!.body;
      expect(body).toMatch(/<a [^>]*href="\/lambda"[^>]*>\s*Lambda\s*<\/a>/);
      const row = /<tr class="lambda-route" data-class="TrackUserJob">([\s\S]*?)<\/tr>/.exec(body)![1]!;
      expect(row).toMatch(/<td class="route">lambda 10%<br><small>[^<]+ by alice@laptop<\/small><\/td>/);
      expect(row).toContain('<td class="waiting-ruby">3 queued, 0 scheduled, 0 retrying</td>');
      expect(row).toContain('<td class="waiting-lambda">1 queued, 0 scheduled, 0 retrying</td>');
      expect(row).toContain('<td class="held">1</td>');
      expect(row).toContain('<td class="hour-ruby">nothing run</td>');
      expect(row).toContain('<td class="hour-lambda">3 processed, 1 failed, avg 50 ms</td>');
      expect(row).toContain("name='authenticity_token'");
      expect(body).toContain('data-class="OwnJob"');
      expect(/<table[^>]*id="lambda-log">[\s\S]*?<\/table>/.exec(body)![0]).toMatch(/<td>TrackUserJob<\/td><td>unrouted<\/td><td>lambda 10%<\/td><td>alice@laptop<\/td>/);
    });

    it('changes a route only with the Web UI’s CSRF token, logs who did it, and migrates the waiting jobs', async () => {
      // Prepare: TrackUserJob on Lambda with a job waiting there
      await publishDeclarations(t.redis, K, [shared('TrackUserJob')], 'poller-1', Date.now());
      await changeRoute(t.redis, K, 'TrackUserJob', entry(100), 'test', Date.now());
      const waiting = markPayload(JSON.stringify({ retry: true, queue: 'default', class: 'TrackUserJob', args: [1], jid: 'aaaaaaaaaaaaaaaaaaaaaaaa' }), 'lambda.TrackUserJob', 'default');
      await t.redis.lpush('queue:lambda.TrackUserJob', waiting);
      const roll = { class: 'TrackUserJob', change: 'ruby' };
      // Act
      const [forged, , rolled, shown, refused, refusedPage, paused] = web([
        { method: 'POST', path: '/lambda', form: roll },
        { method: 'GET', path: '/lambda' },
        { method: 'POST', path: '/lambda', form: roll, token: true },
        { method: 'GET', path: '/lambda' },
        { method: 'POST', path: '/lambda', form: { class: 'NoSuchJob', change: 'lambda', percent: '10' }, token: true },
        { method: 'GET', path: '/lambda?error=' + encodeURIComponent('NoSuchJob cannot run on Lambda') },
        { method: 'POST', path: '/lambda', form: { class: 'TrackUserJob', change: 'pause' }, token: true },
      ]);
      // Assess
      expect(forged!.status).toBe(403);
      expect(rolled!.status).toBe(302);
      expect(decodeURIComponent(rolled!.location.replace(/\+/g, ' '))).toMatch(/\/lambda\?notice=TrackUserJob: ruby \(was lambda 100%\); moved 0 waiting jobs to Lambda and 1 to Ruby, rewrote 0 scheduled\/retry entries$/);
      expect(shown!.body).toContain('<td class="route">ruby<br>');
      expect(await t.redis.lrange('queue:default', 0, -1)).toEqual([JSON.stringify({ retry: true, queue: 'default', class: 'TrackUserJob', args: [1], jid: 'aaaaaaaaaaaaaaaaaaaaaaaa' })]);
      expect(refused!.status).toBe(302);
      expect(decodeURIComponent(refused!.location.replace(/\+/g, ' '))).toContain(
        "error=NoSuchJob cannot run on Lambda: no running poller declares it. Declare it in sidekiq-lambda.config.ts — { class: 'NoSuchJob', queue: '<its Sidekiq queue>', shared: true, entry: 'functions/<file>.ts' } — deploy the poller, then route it again",
      );
      expect(refusedPage!.body).toContain('<div class="alert alert-danger" id="lambda-error">NoSuchJob cannot run on Lambda</div>');
      expect(paused!.status).toBe(302);
      const view = await loadView(t.redis, K);
      expect(view.routes.get('TrackUserJob')).toMatchObject({ percent: 0, paused: true, by: 'Web UI (10.0.0.7)' });
      expect(view.routes.has('NoSuchJob')).toBe(false);
      const log = (await t.redis.lrange(K.routeLog, 0, -1)).map((l) => JSON.parse(l) as { by: string; to: string });
      expect(log.map((l) => [l.to, l.by])).toEqual([['paused (ruby)', 'Web UI (10.0.0.7)'], ['ruby', 'Web UI (10.0.0.7)'], ['lambda 100%', 'test']]);
    });
  });

  // Sidekiq 6 has no Metrics tab (and nothing is written for it: test/redis/routing.test.ts).
  it.skipIf(sk.major < 7)("shows the runs on Lambda in Sidekiq's own Metrics tab as <Class> (λ)", async () => {
    // Prepare: three runs on Lambda through the poller's writer, one Ruby run recorded as Sidekiq 7 records it
    const m = recorder(7);
    m.record('TrackUserJob', true, 84);
    m.record('TrackUserJob', true, 280);
    m.record('TrackUserJob', false, 9);
    await m.flush();
    // Act
    const out = lastJson(ruby(sk, `
      require "json"; require "sidekiq/web"; require "sidekiq/metrics/query"; require "rack/mock"; require "rack/session"
      app = Rack::MockRequest.new(Rack::Builder.new { use Rack::Session::Cookie, secret: "s" * 64; run Sidekiq::Web })
      top = Sidekiq::Metrics::Query.new.top_jobs.job_results["TrackUserJob (λ)"]
      mine = Sidekiq::Metrics::Query.new.for_job("TrackUserJob (λ)").job_results["TrackUserJob (λ)"]
      list = app.get("/metrics")
      page = app.get("/metrics/" + ERB::Util.url_encode("TrackUserJob (λ)"))
      puts JSON.generate({ totals: top.totals, hist: mine.hist.values.map(&:sum).sum, list: [list.status, list.body.include?("TrackUserJob (λ)")], page: [page.status, page.body.include?("TrackUserJob (λ)")] })
    `)) as { totals: Record<string, number>; hist: number; list: [number, boolean]; page: [number, boolean] };
    // Assess
    expect(out.totals).toMatchObject({ p: 3, f: 1, ms: 364 });
    expect(out.hist).toBe(2);
    expect(out.list).toEqual([200, true]);
    expect(out.page).toEqual([200, true]);
  });

  it('loads as a gem from this repository (the matrix entry’s Gemfile has gem "sidekiq-lambda", path: …)', () => {
    const out = sk.run('require "sidekiq-lambda"; print [SidekiqLambda::VERSION, Gem.loaded_specs["sidekiq-lambda"].full_gem_path, SidekiqLambda.installed?].join(" ")', t.url);
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { version: string };
    expect(out).toBe(`${pkg.version} ${fileURLToPath(new URL('../../ruby/sidekiq-lambda', import.meta.url))} true`);
  });
}));
