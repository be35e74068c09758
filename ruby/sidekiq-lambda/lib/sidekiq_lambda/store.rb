# frozen_string_literal: true

require "sidekiq"
require "sidekiq_lambda/routing"

module SidekiqLambda
  # Redis access for the Ruby side, on Sidekiq's own connection pool (Sidekiq 6's redis-rb, with
  # redis-namespace when configured; Sidekiq 7+'s redis-client adapter): the key names of
  # lib/protocol/keys.ts, the cached routing view, and a Lua call that works on both clients.
  module Store
    ROUTES = "sidekiq-lambda:routes"
    ROUTE_LOG = "sidekiq-lambda:route-log"
    DECLARED = "sidekiq-lambda:declared"
    ROUTE_LOG_MAX = 1000
    ROUTE_STATS_TTL = 2 * 60 * 60

    module_function

    def held(cls)
      "sidekiq-lambda:held|#{cls}"
    end

    def route_stats(time)
      t = time.utc
      "sidekiq-lambda:route-stats|#{t.strftime("%Y%m%d")}|#{t.hour}:#{t.strftime("%M")}"
    end

    def redis(&block)
      Sidekiq.redis(&block)
    end

    # HGETALL of both hashes in one round trip.
    def load_view
      routes, declared = redis { |c| c.pipelined { |p| p.hgetall(ROUTES); p.hgetall(DECLARED) } }
      Routing::View.parse(to_hash(routes), to_hash(declared))
    end

    def to_hash(v)
      v.is_a?(Hash) ? v : Hash[*Array(v)]
    end

    # Runs a Lua script: redis-rb (and redis-namespace, which prefixes KEYS) or Sidekiq 7+'s adapter.
    def eval_script(conn, source, keys, argv)
      if defined?(Sidekiq::RedisClientAdapter::CompatClient) && conn.is_a?(Sidekiq::RedisClientAdapter::CompatClient)
        conn.call("EVAL", source, keys.size, *keys, *argv)
      else
        conn.eval(source, keys: keys, argv: argv)
      end
    end

    # The routing view every process caches for CACHE_SECONDS; the last one read when Redis fails.
    class Cache
      def initialize(ttl = Routing::CACHE_SECONDS)
        @ttl = ttl
        @mutex = Mutex.new
        @view = Routing::EMPTY_VIEW
        @read_at = -Float::INFINITY
      end

      def view
        return @view if now - @read_at < @ttl
        @mutex.synchronize do
          return @view if now - @read_at < @ttl
          begin
            @view = Store.load_view
          rescue => e
            Sidekiq.logger.warn("sidekiq-lambda: could not read the routing table (#{e.class}: #{e.message}); using the last one read")
          end
          @read_at = now
        end
        @view
      end

      def reset!
        @mutex.synchronize { @read_at = -Float::INFINITY }
      end

      private

      def now
        ::Process.clock_gettime(::Process::CLOCK_MONOTONIC)
      end
    end
  end
end
