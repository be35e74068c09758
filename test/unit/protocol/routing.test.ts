import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decideRoute,
  describeRoute,
  enqueuePlacement,
  entryPlacement,
  jidDraw,
  markPayload,
  originalQueue,
  parsePercent,
  placement,
  readDeclaration,
  readRouteEntry,
  readView,
  unmarkPayload,
  writeDeclaration,
  writeRouteEntry,
  type Declaration,
  type RouteEntry,
  type RoutingView,
} from '../../../lib/protocol/routing.js';
import { readJob, type FetchedJob } from '../../../lib/protocol/job.js';
import { keys } from '../../../lib/protocol/keys.js';
import { nextEntry } from '../../../lib/routing/table.js';
import { refusal } from '../../../lib/cli/route.js';
import { lambdaQueueOf, withLambdaQueues, pollerConfigFromEnv } from '../../../lib/config.js';
import { decodeRoutes, defineJobs, encodeRoutes, routeOf } from '../../../lib/jobs.js';
import { histogramBucket, metricLayouts } from '../../../lib/sidekiq/metrics.js';

const entry = (percent: number, paused = false): RouteEntry => ({ percent, paused, by: 'ops', at: 1 });
const shared: Declaration = { queue: 'default', shared: true, lambdaQueue: 'lambda.TrackUserJob', by: 'poller-1', at: 1 };
const view = (routes: Record<string, RouteEntry>, declared: Record<string, Declaration> = { TrackUserJob: shared }): RoutingView => ({
  routes: new Map(Object.entries(routes)),
  declared: new Map(Object.entries(declared)),
});
/** A jid whose draw falls in [lo, hi). */
function jidIn(lo: number, hi: number): string {
  for (let i = 0; ; i++) {
    const jid = i.toString(16).padStart(24, '0');
    const d = jidDraw(jid);
    if (d >= lo && d < hi) return jid;
  }
}
const job = (fields: Record<string, unknown>): FetchedJob => readJob(JSON.stringify({ retry: true, queue: 'default', class: 'TrackUserJob', args: [1, 1.0e20], jid: jidIn(0, 0.05), created_at: 1.5, ...fields })) as FetchedJob;

describe('routing', () => {
  describe('jidDraw', () => {
    it('is FNV-1a of the jid over 2^32, the number Ruby computes', () => {
      // FNV-1a('') is the offset basis 0x811c9dc5; 'a' is 0xe40c292c (published test vectors).
      expect(jidDraw('')).toBe(0x811c9dc5 / 2 ** 32);
      expect(jidDraw('a')).toBe(0xe40c292c / 2 ** 32);
      expect(jidDraw('6cb5902100bdc6bb63743e09')).toBe(0.9850196649786085);
    });

    it('spreads random jids evenly: about 10% fall under 0.1', () => {
      const jids = Array.from({ length: 20_000 }, (_, i) => (i * 2654435761).toString(16).padStart(24, 'a').slice(-24));
      const share = jids.filter((j) => jidDraw(j) < 0.1).length / jids.length;
      expect(share).toBeGreaterThan(0.09);
      expect(share).toBeLessThan(0.11);
    });
  });

  describe('decideRoute', () => {
    it('sends the draw under the percentage to Lambda, the rest to Ruby, holds a paused class and leaves an unrouted one', () => {
      const table = new Map([['A', entry(10)], ['P', entry(10, true)]]);
      expect(decideRoute(table, 'A', 0.099)).toBe('lambda');
      expect(decideRoute(table, 'A', 0.1)).toBe('ruby');
      expect(decideRoute(table, 'P', 0.01)).toBe('hold');
      expect(decideRoute(table, 'B', 0.01)).toBe('unrouted');
      expect(decideRoute(new Map([['A', entry(0)]]), 'A', 0)).toBe('ruby');
      expect(decideRoute(new Map([['A', entry(100)]]), 'A', 0.99999)).toBe('lambda');
    });

    it('only moves jobs from Ruby to Lambda when the percentage rises', () => {
      for (const d of [0.01, 0.07, 0.2, 0.6]) {
        if (decideRoute(new Map([['A', entry(10)]]), 'A', d) === 'lambda') expect(decideRoute(new Map([['A', entry(50)]]), 'A', d)).toBe('lambda');
      }
    });
  });

  describe('entries', () => {
    it('round-trip, and an unreadable entry is no entry', () => {
      expect(readRouteEntry(writeRouteEntry(entry(12.5, true)))).toEqual(entry(12.5, true));
      expect(readDeclaration(writeDeclaration(shared))).toEqual(shared);
      for (const bad of [null, '', 'x', '[]', '{"percent":101}', '{"percent":"10"}']) expect(readRouteEntry(bad)).toBeUndefined();
      expect(readView({ A: writeRouteEntry(entry(5)), B: 'nope' }, { A: '{}' })).toEqual({ routes: new Map([['A', entry(5)]]), declared: new Map() });
    });

    it('describe themselves as people read them', () => {
      expect([describeRoute(undefined), describeRoute(entry(0)), describeRoute(entry(10)), describeRoute(entry(100)), describeRoute(entry(0.5, true)), describeRoute(entry(0, true))]).toEqual([
        'unrouted',
        'ruby',
        'lambda 10%',
        'lambda 100%',
        'paused (lambda 0.5%)',
        'paused (ruby)',
      ]);
    });

    it('parse a percentage, refusing anything outside 0–100 with the input named', () => {
      expect([parsePercent('10%'), parsePercent('100'), parsePercent(' 0.5 % ')]).toEqual([10, 100, 0.5]);
      for (const bad of ['101%', '-1', 'ten', '']) expect(() => parsePercent(bad)).toThrow(`a share of jobs must be a percentage from 0% to 100%, got "${bad}"`);
    });

    it('pausing an unrouted class keeps what ran before for the resume', () => {
      expect(nextEntry(undefined, { pause: true }, 'ops', 5, 100)).toEqual({ percent: 100, paused: true, by: 'ops', at: 5 });
      expect(nextEntry(entry(10), { pause: true }, 'ops', 5, 0)).toEqual({ percent: 10, paused: true, by: 'ops', at: 5 });
      expect(nextEntry(entry(10, true), { resume: true }, 'ops', 6, 0)).toEqual({ percent: 10, paused: false, by: 'ops', at: 6 });
      expect(nextEntry(entry(10), { forget: true }, 'ops', 6, 0)).toBeUndefined();
    });
  });

  describe('payloads', () => {
    it('mark and unmark change only queue and routed_from, byte for byte', () => {
      // Prepare: Ruby's float spelling and a big integer must survive
      const raw = '{"retry":true,"queue":"default","class":"TrackUserJob","args":[1.0e+20,12345678901234567890],"jid":"abc","created_at":1.5}';
      // Act
      const marked = markPayload(raw, 'lambda.TrackUserJob', 'default');
      // Assess
      expect(marked).toBe('{"retry":true,"queue":"lambda.TrackUserJob","class":"TrackUserJob","args":[1.0e+20,12345678901234567890],"jid":"abc","created_at":1.5,"routed_from":"default"}');
      expect(unmarkPayload(marked, 'default')).toBe(raw);
    });

    it('the original queue is routed_from, else the declared queue for an unmarked job on the Lambda queue, else queue', () => {
      const v = view({});
      expect(originalQueue({ class: 'TrackUserJob', queue: 'lambda.TrackUserJob', routed_from: 'low' }, v)).toBe('low');
      expect(originalQueue({ class: 'TrackUserJob', queue: 'lambda.TrackUserJob' }, v)).toBe('default');
      expect(originalQueue({ class: 'Other', queue: 'mailers' }, v)).toBe('mailers');
      expect(originalQueue({ class: 'Other' } as never, v)).toBe('default');
    });
  });

  describe('placement', () => {
    it('leaves an unrouted class where it is', () => {
      expect(placement(view({}), job({}), 'default')).toEqual({ kind: 'stay' });
    });

    it("moves Lambda's share to the Lambda queue, marked; leaves Ruby's share", () => {
      const v = view({ TrackUserJob: entry(10) });
      const lam = job({ jid: jidIn(0, 0.1) });
      const rb = job({ jid: jidIn(0.1, 1) });
      expect(placement(v, lam, 'default')).toEqual({ kind: 'move', queue: 'lambda.TrackUserJob', payload: markPayload(lam.raw, 'lambda.TrackUserJob', 'default'), side: 'lambda' });
      expect(placement(v, rb, 'default')).toEqual({ kind: 'stay' });
    });

    it("sends a marked job of Ruby's share back to its queue, unmarked", () => {
      const v = view({ TrackUserJob: entry(0) });
      const m = job({ queue: 'lambda.TrackUserJob', routed_from: 'default' });
      expect(placement(v, m, 'lambda.TrackUserJob')).toEqual({ kind: 'move', queue: 'default', payload: unmarkPayload(m.raw, 'default'), side: 'ruby' });
    });

    it("holds a paused class's job unmarked, and leaves held jobs held", () => {
      const v = view({ TrackUserJob: entry(100, true) });
      const m = job({ queue: 'lambda.TrackUserJob', routed_from: 'default' });
      expect(placement(v, m, 'lambda.TrackUserJob')).toEqual({ kind: 'hold', payload: unmarkPayload(m.raw, 'default') });
      expect(placement(v, job({}), 'held')).toEqual({ kind: 'stay' });
    });

    it('releases held jobs to their side when the class resumes or loses its route', () => {
      const lam = job({ jid: jidIn(0, 0.1) });
      expect(placement(view({ TrackUserJob: entry(10) }), lam, 'held')).toMatchObject({ kind: 'move', queue: 'lambda.TrackUserJob', side: 'lambda' });
      expect(placement(view({}), lam, 'held')).toEqual({ kind: 'move', queue: 'default', payload: lam.raw, side: 'ruby' });
    });

    it('keeps a Lambda share where it is when no poller declares the class', () => {
      expect(placement(view({ TrackUserJob: entry(100) }, {}), job({}), 'default')).toEqual({ kind: 'stay' });
    });

    it('rewrites schedule and retry entries to their side, and leaves a paused class alone', () => {
      const v = view({ TrackUserJob: entry(100) });
      const j = job({});
      expect(entryPlacement(v, j)).toEqual({ kind: 'rewrite', payload: markPayload(j.raw, 'lambda.TrackUserJob', 'default') });
      expect(entryPlacement(view({ TrackUserJob: entry(100, true) }), j)).toEqual({ kind: 'stay' });
      expect(entryPlacement(view({}), j)).toEqual({ kind: 'stay' });
      const m = job({ queue: 'lambda.TrackUserJob', routed_from: 'default' });
      expect(entryPlacement(v, m)).toEqual({ kind: 'stay' });
      expect(entryPlacement(view({ TrackUserJob: entry(0) }), m)).toEqual({ kind: 'rewrite', payload: unmarkPayload(m.raw, 'default') });
    });

    it('routes an ActiveJob by its wrapped class', () => {
      const v = view({ TrackUserJob: entry(100) });
      const aj = job({ class: 'Sidekiq::ActiveJob::Wrapper', wrapped: 'TrackUserJob' });
      expect(placement(v, aj, 'default')).toMatchObject({ kind: 'move', queue: 'lambda.TrackUserJob' });
    });
  });

  describe('enqueuePlacement', () => {
    it("sends Lambda's share of a job being enqueued to the Lambda queue, marked, keeping a scheduled job's time; leaves Ruby's share", () => {
      const v = view({ TrackUserJob: entry(10) });
      const lam = job({ jid: jidIn(0, 0.1) });
      const rb = job({ jid: jidIn(0.1, 1) });
      const marked = markPayload(lam.raw, 'lambda.TrackUserJob', 'default');
      expect(enqueuePlacement(v, { queue: 'default', payload: lam.raw })).toEqual({ queue: 'lambda.TrackUserJob', payload: marked });
      expect(enqueuePlacement(v, { at: 5000, payload: lam.raw })).toEqual({ at: 5000, payload: marked });
      expect(enqueuePlacement(v, { queue: 'default', payload: rb.raw })).toEqual({ queue: 'default', payload: rb.raw });
      expect(enqueuePlacement(v, { queue: 'lambda.TrackUserJob', payload: marked })).toEqual({ queue: 'lambda.TrackUserJob', payload: marked });
    });

    it("sends a marked job of Ruby's share back to its queue, unmarked; leaves a paused, unrouted, undeclared or unreadable one as rendered", () => {
      const m = job({ queue: 'lambda.TrackUserJob', routed_from: 'default' });
      expect(enqueuePlacement(view({ TrackUserJob: entry(0) }), { queue: 'lambda.TrackUserJob', payload: m.raw })).toEqual({ queue: 'default', payload: unmarkPayload(m.raw, 'default') });
      const e = { queue: 'default', payload: job({}).raw };
      for (const v of [view({ TrackUserJob: entry(100, true) }), view({}), view({ TrackUserJob: entry(100) }, {}), view({ Other: entry(100) })]) expect(enqueuePlacement(v, e)).toBe(e);
      const bad = { queue: 'default', payload: '{"class":' };
      expect(enqueuePlacement(view({ TrackUserJob: entry(100) }), bad)).toBe(bad);
    });
  });

  describe('refusal', () => {
    const now = 1_000_000_000;
    it('refuses a Lambda share for a class no running poller declares, saying how to declare it', () => {
      expect(refusal(view({}, {}), 'TrackUserJob', { percent: 10 }, now)).toBe(
        "TrackUserJob cannot run on Lambda: no running poller declares it. Declare it in sidekiq-lambda.config.ts — { class: 'TrackUserJob', queue: '<its Sidekiq queue>', shared: true, entry: 'functions/<file>.ts' } — deploy the poller, then route it again",
      );
      expect(refusal(view({}, { TrackUserJob: { ...shared, at: 0 } }), 'TrackUserJob', { percent: 10 }, now)).toContain('no running poller declares it (it was last declared by poller-1 at 1970-01-01T00:00:00.000Z)');
      expect(refusal(view({}, { TrackUserJob: { ...shared, at: now } }), 'TrackUserJob', { percent: 10 }, now)).toBeUndefined();
      expect(refusal(view({}, {}), 'TrackUserJob', { percent: 0 }, now)).toBeUndefined();
      expect(refusal(view({}, {}), 'TrackUserJob', { pause: true }, now)).toBeUndefined();
    });

    it("refuses a Ruby share for a class whose queue the poller drains", () => {
      const own = { TrackUserJob: { queue: 'track', shared: false, lambdaQueue: 'track', by: 'p', at: now } };
      expect(refusal(view({}, own), 'TrackUserJob', { percent: 10 }, now)).toBe(
        'TrackUserJob runs only on Lambda: its queue track is drained by the poller, so Ruby never sees its jobs. Declare it with shared: true (and let Ruby drain track), deploy the poller, then route a share of it to Ruby',
      );
      expect(refusal(view({}, own), 'TrackUserJob', { percent: 100 }, now)).toBeUndefined();
    });
  });

  describe('declarations', () => {
    it('carry shared through the environment, and leave an unshared one exactly as before', () => {
      const jobs = defineJobs([
        { class: 'TrackUserJob', queue: 'default', shared: true, entry: 'f.ts' },
        { class: 'Other', queue: 'track', entry: 'f.ts' },
      ]);
      const routes = jobs.map((j) => routeOf(j));
      expect(JSON.parse(encodeRoutes(routes))).toEqual([
        ['TrackUserJob', 'default', 'sidekiq-lambda-TrackUserJob', 30, 10, 1, true],
        ['Other', 'track', 'sidekiq-lambda-Other', 30, 10, 1],
      ]);
      expect(decodeRoutes(encodeRoutes(routes))).toEqual(routes);
      expect(lambdaQueueOf(routes[0]!)).toBe('lambda.TrackUserJob');
      expect(lambdaQueueOf(routes[1]!)).toBe('track');
    });

    it('refuse a queue that is shared for one class and the poller’s own for another', () => {
      expect(() => defineJobs([{ class: 'A', queue: 'default', shared: true, entry: 'f.ts' }, { class: 'B', queue: 'default', entry: 'f.ts' }])).toThrow(
        "job A shares queue default with Ruby (shared: true), but B declares it the poller's own: declare both shared, or give B a queue of its own",
      );
    });

    it("add each shared class's Lambda queue to the poller's queues, and refuse draining a shared queue", () => {
      const routes = decodeRoutes('[["A","default","fn",30,10,1,true],["B","track","fn",30,10,1]]');
      expect(pollerConfigFromEnv({}, routes).queues).toEqual([{ name: 'lambda.A', weight: 0 }, { name: 'track', weight: 0 }]);
      expect(withLambdaQueues([{ name: 'track', weight: 3 }], routes)).toEqual([{ name: 'track', weight: 3 }, { name: 'lambda.A', weight: 1 }]);
      expect(() => pollerConfigFromEnv({ SIDEKIQ_LAMBDA_QUEUES: 'default track' }, routes)).toThrow(
        'SIDEKIQ_LAMBDA_QUEUES lists default, which A shares with Ruby (shared: true): the poller must not drain it; it drains lambda.A for A',
      );
    });
  });

  describe('metrics keys', () => {
    // 2026-02-04 08:03:00 UTC
    const at = Date.UTC(2026, 1, 4, 8, 3);
    it("name Sidekiq 7.x's and 8.x's Metrics-tab keys as their strftime patterns do", () => {
      const k = keys();
      expect([k.metrics7(at), k.histogram7('A (λ)', at), k.metrics8(at), k.metrics8Tens(at), k.histogram8('A (λ)', at), k.routeStats(at)]).toEqual([
        'j|20260204|8:3',
        'A (λ)-04-08:3',
        'j|260204|8:03',
        'j|260204|8:0',
        'h|A (λ)-4-8:3',
        'sidekiq-lambda:route-stats|20260204|8:03',
      ]);
      expect(keys().metrics8Tens(Date.UTC(2026, 1, 4, 18, 47))).toBe('j|260204|18:4');
    });

    it("bucket durations as Sidekiq's histogram does, and pick the layouts a version reads", () => {
      expect([0, 19, 20, 280, 334999, 335000, 1e9].map(histogramBucket)).toEqual([0, 0, 1, 7, 24, 25, 25]);
      expect([metricLayouts(6), metricLayouts(7), metricLayouts(8)]).toEqual([[], [7, 8], [8]]);
    });
  });

  describe('the Ruby gem', () => {
    it('has the version of the package (README: the gem of the same release)', () => {
      const read = (p: string): string => readFileSync(new URL(p, import.meta.url), 'utf8');
      expect(/VERSION = "([^"]+)"/.exec(read('../../../ruby/sidekiq-lambda/lib/sidekiq_lambda/version.rb'))?.[1]).toBe((JSON.parse(read('../../../package.json')) as { version: string }).version);
    });


    it('carries the same move and rewrite scripts as lib/redis, byte for byte', () => {
      for (const f of ['move-2n.lua', 'rewrite-1.lua']) {
        const read = (p: string): string => readFileSync(new URL(p, import.meta.url), 'utf8');
        expect([f, read(`../../../ruby/sidekiq-lambda/lib/sidekiq_lambda/${f}`)]).toEqual([f, read(`../../../lib/redis/${f}`)]);
      }
    });
  });
});
