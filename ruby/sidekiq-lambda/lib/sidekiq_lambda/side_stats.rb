# frozen_string_literal: true

require "sidekiq_lambda/store"

module SidekiqLambda
  # Ruby's side of the per-side stats of routed classes (lib/routing/stats.ts): processed, failed
  # and total ms of successful runs per class and UTC minute, in memory, flushed every few
  # seconds (and at shutdown) in one round trip. Counts Redis refuses are kept for the next flush.
  class SideStats
    FLUSH_SECONDS = 5

    def initialize
      @mutex = Mutex.new
      @counts = Hash.new(0)
      @flushed_at = now
    end

    def record(cls, ok, ms)
      @mutex.synchronize do
        @counts["#{cls}|ruby|p"] += 1
        if ok
          @counts["#{cls}|ruby|ms"] += ms.round
        else
          @counts["#{cls}|ruby|f"] += 1
        end
      end
      flush if now - @flushed_at >= FLUSH_SECONDS
    end

    def flush(time = Time.now)
      counts = @mutex.synchronize do
        @flushed_at = now
        c = @counts
        @counts = Hash.new(0)
        c
      end
      return if counts.empty?
      key = Store.route_stats(time)
      Store.redis do |conn|
        conn.pipelined do |p|
          counts.each { |field, n| p.hincrby(key, field, n) }
          p.expire(key, Store::ROUTE_STATS_TTL)
        end
      end
    rescue => e
      @mutex.synchronize { counts.each { |f, n| @counts[f] += n } }
      Sidekiq.logger.warn("sidekiq-lambda: could not write the Ruby side's stats (#{e.message}); kept for the next flush")
    end

    private

    def now
      ::Process.clock_gettime(::Process::CLOCK_MONOTONIC)
    end
  end
end
