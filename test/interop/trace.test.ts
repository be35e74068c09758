/**
 * One trace runs Rails → Lambda → Rails, with the real OpenTelemetry Sidekiq instrumentation
 * (opentelemetry-sdk and opentelemetry-instrumentation-sidekiq, in the Sidekiq matrix entries that
 * pin them): Ruby enqueues a job inside a span (the instrumentation's client middleware writes
 * `traceparent` into the payload); the poller runs it on the local Lambda endpoint, where the
 * handler sees that trace id and Lambda's `_X_AMZN_TRACE_ID` holds its X-Ray form; the job the
 * handler enqueues back runs on a real Sidekiq server whose OpenTelemetry span — recorded by an
 * in-memory span exporter — is in the same trace, a child of the span that enqueued the first job.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq, SIDEKIQS } from '../support/ruby.js';
import { startStack, eventually, type Stack } from '../support/stack.js';

const t = useRedis();
const OTEL_GEM = 'opentelemetry-instrumentation-sidekiq';
/** No OTLP exporter gem is installed, and none is wanted: spans go to the in-memory exporter. */
const OTEL_ENV = { OTEL_TRACES_EXPORTER: 'none' };

/** OpenTelemetry as a Rails app sets it up, with the Sidekiq instrumentation and an in-memory exporter. */
const OTEL_RB = `
require "sidekiq"
require "json"
require "logger"
require "opentelemetry/sdk"
require "opentelemetry/instrumentation/sidekiq"
OpenTelemetry.logger = Logger.new(IO::NULL)
EXPORTER = OpenTelemetry::SDK::Trace::Export::InMemorySpanExporter.new
OpenTelemetry::SDK.configure do |c|
  c.service_name = "rails"
  c.add_span_processor(OpenTelemetry::SDK::Trace::Export::SimpleSpanProcessor.new(EXPORTER))
  c.use "OpenTelemetry::Instrumentation::Sidekiq", propagation_style: :child
end
def span_json(s)
  { name: s.name, kind: s.kind, trace_id: s.hex_trace_id, span_id: s.hex_span_id, parent_span_id: s.hex_parent_span_id }
end
`;

/** The Sidekiq server: runs TraceBackJob and records every span it finished, after each job. */
const SERVER_RB = `${OTEL_RB}
class SpanRecorder
  def call(_worker, _job, _queue)
    yield
  ensure
    spans = EXPORTER.finished_spans
    EXPORTER.reset
    Sidekiq.redis { |c| spans.each { |s| c.rpush("interop:spans", JSON.generate(span_json(s))) } }
  end
end
# First in the chain, around the instrumentation's own middleware: its span has finished by then.
Sidekiq.configure_server { |config| config.server_middleware { |chain| chain.prepend SpanRecorder } }
class TraceBackJob
  include Sidekiq::Job
  def perform(*seen)
    Sidekiq.redis { |c| c.rpush("interop:traced_back", JSON.generate(seen)) }
  end
end
`;

/** Rails: a request span that enqueues TracedJob (for Lambda), printing its trace and the publish span. */
const ENQUEUE_RB = `${OTEL_RB}
tracer = OpenTelemetry.tracer_provider.tracer("rails")
jid = tracer.in_span("GET /puzzles") do
  Sidekiq::Client.push("class" => "TracedJob", "queue" => "traced", "args" => ["TraceBackJob", "traced_back"])
end
puts JSON.generate(jid: jid, spans: EXPORTER.finished_spans.map { |s| span_json(s) })
`;

interface Span {
  name: string;
  kind: string;
  trace_id: string;
  span_id: string;
  parent_span_id: string;
}

const withOtel = (sk: (typeof SIDEKIQS)[number]): boolean => sk.gems.has(OTEL_GEM);
for (const sk of SIDEKIQS.filter((s) => !withOtel(s))) {
  console.warn(`\n*** SKIPPED "one trace Rails → Lambda → Rails" on ${sk.label} (${sk.entry}): its Gemfile.lock pins no ${OTEL_GEM} ***\n`);
}
if (!SIDEKIQS.some(withOtel)) {
  const why = `no Sidekiq matrix entry pins ${OTEL_GEM} (test/ruby/*/Gemfile.lock)`;
  if (process.env.CI === 'true') describe('one trace Rails → Lambda → Rails', () => it('needs the OpenTelemetry gems (required under CI=true)', () => expect.fail(why)));
  else console.warn(`\n*** SKIPPED "one trace Rails → Lambda → Rails": ${why} ***\n`);
}

forEachSidekiq(
  (sk) =>
    describe('one trace Rails → Lambda → Rails (OpenTelemetry Sidekiq instrumentation)', () => {
      let dir = '';
      let server: ChildProcess | undefined;
      let stack: Stack | undefined;

      beforeAll(async () => {
        dir = mkdtempSync(join(tmpdir(), 'skl-trace-'));
        writeFileSync(join(dir, 'server.rb'), SERVER_RB);
        server = sk.spawn([sk.bin('sidekiq'), '-r', join(dir, 'server.rb'), '-q', 'traced_back', '-c', '1', '-t', '3'], t.url, OTEL_ENV);
        await eventually(async () => (await t.redis.scard('processes')) > 0, 30_000, 'sidekiq to start');
        stack = await startStack(t.url, [{ class: 'TracedJob', queue: 'traced', handler: 'traced', environment: { REDIS_URL: 'redis://127.0.0.1:1/0', LOG_LEVEL: 'warn' } }]);
      });

      afterAll(async () => {
        await stack?.close();
        const s = server;
        if (s && s.exitCode === null) {
          const exited = new Promise((r) => s.once('exit', r));
          s.kill('SIGTERM');
          await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
          if (s.exitCode === null) s.kill('SIGKILL');
        }
        rmSync(dir, { recursive: true, force: true });
      });

      it("the handler sees Rails' trace, Lambda gets its X-Ray form, and Ruby's span for the job enqueued back is in the same trace", async () => {
        // Act: Rails enqueues inside a request span
        const out = sk.run(ENQUEUE_RB, t.url, OTEL_ENV).trim().split('\n');
        const rails = JSON.parse(out[out.length - 1]!) as { jid: string; spans: Span[] };
        const publish = rails.spans.find((s) => s.kind === 'producer')!;
        const request = rails.spans.find((s) => s.name === 'GET /puzzles')!;
        // Assess 1: the instrumentation wrote the W3C context into the payload (nothing of ours yet)
        expect(publish.trace_id).toBe(request.trace_id);
        const traceId = request.trace_id;
        // Assess 2: the handler saw that trace; Lambda's _X_AMZN_TRACE_ID held its X-Ray form
        const [seen] = await eventually(async () => {
          const l = await t.redis.lrange('interop:traced_back', 0, -1);
          return l.length > 0 ? l : undefined;
        }, 30_000, 'Ruby to run TraceBackJob');
        const [handlerTraceId, handlerSpanId, xray] = JSON.parse(seen!) as [string, string, string, number];
        expect([handlerTraceId, handlerSpanId]).toEqual([traceId, publish.span_id]);
        expect(xray).toBe(`Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${publish.span_id};Sampled=1`);
        // Assess 3: Ruby's span for the job enqueued back: same trace, a child of Rails' publish span
        const spans = await eventually(async () => {
          const all = (await t.redis.lrange('interop:spans', 0, -1)).map((s) => JSON.parse(s) as Span);
          return all.some((s) => s.name === 'traced_back process') ? all : undefined;
        }, 15_000, "the server's span");
        const processed = spans.find((s) => s.name === 'traced_back process')!;
        expect(processed).toMatchObject({ kind: 'consumer', trace_id: traceId, parent_span_id: publish.span_id });
      });
    }),
  { only: withOtel },
);
