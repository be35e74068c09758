/**
 * ActiveJob payloads against real Ruby ActiveJob and Sidekiq, every entry of the matrix (ActiveJob 6.1 on
 * Sidekiq 6.4.1; ActiveJob 7.2 on Sidekiq 7.3 with Sidekiq's own adapter):
 * what `wrapActiveJob` builds, Ruby runs with the intended Ruby values; what Rails enqueues,
 * `unwrapActiveJob` reads into the intended JS values.
 */
import { describe, expect, it } from 'vitest';
import { AJ_WRAPPER_RAILS, activeJobGlobalId, activeJobKeywords, activeJobSymbol, unwrapActiveJob, wrapActiveJob } from '../../lib/protocol/activejob.js';
import { readJob, type FetchedJob } from '../../lib/protocol/job.js';
import { writeObject } from '../../lib/protocol/json.js';
import { writeTimestamp } from '../../lib/protocol/time.js';
import { generateJid } from '../../lib/protocol/validate.js';
import { useRedis } from '../support/redis.js';
import { forEachSidekiq, REQUIRE_ACTIVE_JOB } from '../support/ruby.js';

const RUBY_PRELUDE = String.raw`
$VERBOSE = nil
require "sidekiq"
require "sidekiq/api"
${REQUIRE_ACTIVE_JOB}
require "active_support/all"
require "json"
Sidekiq.configure_client { |c| c.redis = {url: ENV.fetch("REDIS_URL")} }
Sidekiq.logger.level = Logger::WARN
Time.zone = "UTC"
GlobalID.app = "app"
class User
  include GlobalID::Identification
  attr_reader :id
  def initialize(id) = @id = id.to_i
  def self.find(id) = new(id)
end
# A JSON picture of a Ruby value that keeps what JSON would lose: Symbols, Times, key types.
def picture(v)
  case v
  when Symbol then {"Symbol" => v.to_s}
  when ActiveSupport::TimeWithZone, Time then {v.class.name => v.utc.iso8601(9)}
  when Hash then {"Hash" => v.map { |k, x| [k.is_a?(Symbol) ? ":#{k}" : k, picture(x)] }.to_h}
  when Array then v.map { |x| picture(x) }
  when User then {"User" => v.id}
  else v
  end
end
`;

function only(redis: { lrange(k: string, a: number, b: number): Promise<string[]> }, key: string): Promise<FetchedJob> {
  return redis.lrange(key, 0, -1).then((items) => {
    expect(items).toHaveLength(1);
    const r = readJob(items[0]!);
    if ('reason' in r) throw new Error(r.reason);
    return r;
  });
}

const t = useRedis();

forEachSidekiq((sk) => describe(`activejob interop (Ruby ActiveJob ${sk.gems.get('activejob')})`, () => {
  it('runs a job built by wrapActiveJob with Symbols, a Time, a GlobalID and real keyword arguments', async () => {
    // Prepare
    const now = Date.now();
    const when = new Date('2025-06-30T12:00:00.250Z');
    const data = wrapActiveJob(
      'InteropJob',
      [42, 'é😀\u2028', activeJobSymbol('fast'), { str: 1, nested: { a: [1, null, 2.5] } }, when, activeJobGlobalId('gid://app/User/7'), activeJobKeywords({ at: when, mode: activeJobSymbol('slow') })],
      { queue: 'mailers', enqueuedAt: now },
    );
    const payload = writeObject([
      ['retry', true],
      ['queue', 'mailers'],
      ['class', AJ_WRAPPER_RAILS],
      ['wrapped', 'InteropJob'],
      ['args', [data]],
      ['jid', generateJid()],
      ['created_at', writeTimestamp(now)],
      ['enqueued_at', writeTimestamp(now)],
    ]);
    await t.redis.sadd('queues', 'mailers');
    await t.redis.lpush('queue:mailers', payload);

    // Act: Ruby fetches the job and runs it as Sidekiq's JobWrapper would; perform's strict
    // signature raises ArgumentError unless the last hash arrives as keyword arguments.
    const out = sk.run(
      `${RUBY_PRELUDE}
      class InteropJob < ActiveJob::Base
        def perform(n, s, sym, hash, time, user, at:, mode:)
          $seen = {"positional" => picture([n, s, sym, hash, time, user]), "keywords" => picture({at: at, mode: mode}), "job_id" => job_id, "provider_job_id" => provider_job_id}
        end
      end
      item = Sidekiq::Queue.new("mailers").first.item
      ActiveJob::Base.execute(item["args"][0].merge("provider_job_id" => item["jid"]))
      $seen["arguments"] = picture(ActiveJob::Arguments.deserialize(item["args"][0]["arguments"]))
      print JSON.generate($seen)`,
      t.url,
    );
    const seen = JSON.parse(out) as Record<string, unknown>;

    // Assess
    const time = { Time: '2025-06-30T12:00:00.250000000Z' };
    expect(seen.positional).toEqual([42, 'é😀\u2028', { Symbol: 'fast' }, { Hash: { str: 1, nested: { Hash: { a: [1, null, 2.5] } } } }, time, { User: 7 }]);
    expect(seen.keywords).toEqual({ Hash: { ':at': time, ':mode': { Symbol: 'slow' } } });
    expect(seen.job_id).toBe(data.job_id);
    expect((seen.arguments as unknown[]).at(-1)).toEqual({ Hash: { ':at': time, ':mode': { Symbol: 'slow' } } });
  });

  it('reads a job Rails enqueued with perform_later into plain JS values', async () => {
    // Prepare
    sk.run(
      `${RUBY_PRELUDE}
      class WelcomeJob < ActiveJob::Base
        queue_as :mailers
        def perform(*, **) = nil
      end
      WelcomeJob.perform_later(:vip, {"plan" => "pro", tier: 2}, 2**64, User.new(9), at: Time.utc(2025, 1, 2, 3, 4, 5, 678_000), day: Date.new(2025, 1, 2), wait: 90.seconds)`,
      t.url,
    );

    // Act
    const { job } = await only(t.redis, 'queue:mailers');
    const aj = unwrapActiveJob(job)!;

    // Assess
    expect(job.class).toBe(AJ_WRAPPER_RAILS);
    expect(aj.jobClass).toBe('WelcomeJob');
    expect(aj.arguments.slice(0, 2)).toEqual(['vip', { plan: 'pro', tier: 2 }]);
    expect(aj.arguments.slice(3)).toEqual(['gid://app/User/9', { at: new Date('2025-01-02T03:04:05.678Z'), day: '2025-01-02', wait: 90 }]);
  });

  it('keeps a big integer Rails wrote exactly when the payload is parsed losslessly', async () => {
    // Prepare
    sk.run(
      `${RUBY_PRELUDE}
      class BigJob < ActiveJob::Base
        def perform(*) = nil
      end
      BigJob.perform_later(2**64 + 1)`,
      t.url,
    );
    const { raw } = await only(t.redis, 'queue:default');

    // Act
    const { parseLossless } = await import('../../lib/protocol/json.js');
    const aj = unwrapActiveJob(parseLossless(raw) as FetchedJob['job'])!;

    // Assess
    expect(aj.arguments).toEqual([2n ** 64n + 1n]);
  });
}));
