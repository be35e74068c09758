# frozen_string_literal: true

require "sidekiq"
require "sidekiq_lambda/version"
require "sidekiq_lambda/routing"
require "sidekiq_lambda/store"
require "sidekiq_lambda/side_stats"
require "sidekiq_lambda/middleware"

# The Rails side of sidekiq-lambda. Loading it (`gem "sidekiq-lambda", path: "…"`) installs, on
# Sidekiq 6.4 and later:
# - the client middleware, in every process that enqueues (Rails and Sidekiq alike);
# - the server middleware (first in the chain) and the BasicFetch hook, in Sidekiq processes;
# - one push per queue in push_bulk.
# The Web UI's Lambda tab is loaded with `require "sidekiq_lambda/web"` after `require "sidekiq/web"`.
# Set SIDEKIQ_LAMBDA_DISABLE=1 to load the code without installing anything (`SidekiqLambda.install!` later).
module SidekiqLambda
  class << self
    # The routing view, read at most every Routing::CACHE_SECONDS.
    def cache
      @cache ||= Store::Cache.new
    end

    def stats
      @stats ||= SideStats.new
    end

    def installed?
      @installed == true
    end

    # Installs the middleware and hooks once (idempotent).
    def install!
      return if installed?
      @installed = true
      ::Sidekiq::BasicFetch.prepend(FetchHook) unless ::Sidekiq::BasicFetch <= FetchHook
      ::Sidekiq::Client.prepend(BulkByQueue) unless ::Sidekiq::Client <= BulkByQueue
      ::Sidekiq.configure_client do |config|
        config.client_middleware { |chain| chain.add ClientMiddleware }
      end
      ::Sidekiq.configure_server do |config|
        config.client_middleware { |chain| chain.add ClientMiddleware }
        # First in the chain: a job forwarded or held runs no other middleware (nor counts in Sidekiq 7's metrics).
        config.server_middleware { |chain| chain.prepend ServerMiddleware }
        config.on(:shutdown) { SidekiqLambda.stats.flush }
      end
    end
  end
end

SidekiqLambda.install! unless ENV["SIDEKIQ_LAMBDA_DISABLE"] == "1"
