# frozen_string_literal: true

require "sidekiq"
require "sidekiq/fetch"
require "sidekiq/client"
require "sidekiq_lambda/routing"
require "sidekiq_lambda/store"

module SidekiqLambda
  # Where routing meets Sidekiq:
  #
  # 1. ClientMiddleware (every push: perform_async, perform_in/at, push_bulk, ActiveJob, and the
  #    scheduler's promotion): the share of a routed class that runs on Lambda goes to the class's
  #    Lambda queue, with `routed_from` recording its queue; nothing else in the payload changes.
  # 2. FetchHook (the safety net, before Ruby loads the job's class, so a class routed away is
  #    never a NameError): a job Ruby pops that the table sends to Lambda is forwarded there; a
  #    paused class's job is held.
  # 3. ServerMiddleware: the same decision for fetchers other than Sidekiq's BasicFetch, and the
  #    Ruby side's stats (processed, failed, duration) of routed classes.
  # 4. BulkByQueue: push_bulk writes every job to the queue of the first one; with per-job
  #    routing a bulk can hold both sides, so each queue's jobs go to that queue.
  module Placement
    module_function

    # Client side: mark or unmark the job hash in place (it is about to be written).
    def at_enqueue(job)
      view = SidekiqLambda.cache.view
      return if view.empty?
      cls = Routing.routed_class(job)
      return unless view.routes.key?(cls)
      case Routing.decide_job(view.routes, job)
      when :lambda
        decl = view.declared[cls] or return
        queue = job["queue"].to_s
        return if queue == decl.lambda_queue
        job["queue"] = decl.lambda_queue
        job[Routing::ROUTED_FROM] = queue unless Routing.marked?(job)
      when :ruby
        job["queue"] = job.delete(Routing::ROUTED_FROM) if Routing.marked?(job)
      end
    end

    # Fetch or server side: nil to run the job here, else the job was forwarded or held (true).
    def elsewhere?(job, queue, redis)
      view = SidekiqLambda.cache.view
      return nil if view.empty?
      cls = Routing.routed_class(job)
      return nil unless view.routes.key?(cls)
      place = Routing.placement(view, job, queue)
      case place[0]
      when :hold # [:hold, job]
        push(redis, Store.held(cls), nil, place[1])
        true
      when :move # [:move, queue, job, side]
        return nil unless place[3] == :lambda # on Ruby's side already: run it
        push(redis, "queue:#{place[1]}", place[1], place[2])
        true
      end
    end

    def push(redis, key, queue, payload)
      json = Sidekiq.dump_json(payload)
      redis.call do |conn|
        conn.pipelined do |p|
          p.lpush(key, json)
          p.sadd("queues", queue) if queue
        end
      end
    end
  end

  class ClientMiddleware
    include Sidekiq::ClientMiddleware if defined?(Sidekiq::ClientMiddleware)

    def call(_job_class, job, _queue, _redis_pool)
      Placement.at_enqueue(job)
      yield
    end
  end

  class ServerMiddleware
    include Sidekiq::ServerMiddleware if defined?(Sidekiq::ServerMiddleware)

    def call(_job_instance, job, queue)
      return if Placement.elsewhere?(job, queue, ->(&b) { Sidekiq.redis(&b) })
      cls = Routing.routed_class(job)
      return yield unless SidekiqLambda.cache.view.routes.key?(cls)
      if Routing.marked?(job) # run here: leave no marker for a retry to carry
        job["queue"] = queue
        job.delete(Routing::ROUTED_FROM)
      end
      started = ::Process.clock_gettime(::Process::CLOCK_MONOTONIC, :millisecond)
      ok = false
      begin
        result = yield
        ok = true
        result
      ensure
        SidekiqLambda.stats.record(cls, ok, ::Process.clock_gettime(::Process::CLOCK_MONOTONIC, :millisecond) - started)
      end
    end
  end

  # Prepended to Sidekiq::BasicFetch: forward or hold what the table sends elsewhere before the
  # processor loads the job's class. The job is popped already (BRPOP) and pushed on at once; as
  # with any job BasicFetch holds in memory, a process killed -9 in between loses it.
  module FetchHook
    def retrieve_work
      work = super
      return work unless work
      job = begin
        Sidekiq.load_json(work.job)
      rescue
        return work # malformed: Sidekiq sends it to the morgue
      end
      return work unless job.is_a?(Hash)
      redis = work.respond_to?(:config) && work.config ? ->(&b) { work.config.redis(&b) } : ->(&b) { Sidekiq.redis(&b) }
      begin
        Placement.elsewhere?(job, work.queue_name, redis) ? nil : work
      rescue => e
        Sidekiq.logger.warn("sidekiq-lambda: could not forward job #{job["jid"]} (#{e.message}); putting it back on #{work.queue_name}")
        work.requeue
        nil
      end
    end
  end

  # Prepended to Sidekiq::Client: one push per queue when a bulk's jobs went to different queues.
  module BulkByQueue
    private

    def raw_push(payloads)
      return super if payloads.size < 2 || payloads.first.key?("at")
      groups = payloads.group_by { |p| p["queue"] }
      return super if groups.size == 1
      groups.each_value { |group| super(group) }
      true
    end
  end
end
