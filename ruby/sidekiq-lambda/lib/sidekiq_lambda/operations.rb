# frozen_string_literal: true

require "json"
require "socket"
require "sidekiq_lambda/routing"
require "sidekiq_lambda/store"

module SidekiqLambda
  # What `sidekiq-lambda route` does (lib/cli/route.ts, lib/routing/), for the Web UI's buttons:
  # change a route with its log record, refuse what cannot work, migrate a class's waiting jobs
  # to their side (the same Lua scripts, copied from lib/redis/), and count jobs per side.
  module Operations
    MOVE = File.read(File.join(__dir__, "move-2n.lua"))
    REWRITE = File.read(File.join(__dir__, "rewrite-1.lua"))
    CHUNK = 500
    COUNT_LIMIT = 10_000

    class Refused < StandardError; end

    module_function

    def fresh?(decl, now_ms = now_ms())
      !decl.nil? && now_ms - decl.at <= Routing::DECLARATION_FRESH_SECONDS * 1000
    end

    def now_ms
      (Time.now.to_f * 1000).to_i
    end

    # Why a share on Lambda or in Ruby cannot be set for `cls` (lib/cli/route.ts `refusal`), or nil.
    def refusal(view, cls, percent)
      return nil if percent.nil?
      d = view.declared[cls]
      if percent > 0 && !fresh?(d)
        last = d ? " (it was last declared by #{d.by} at #{Time.at(d.at / 1000.0).utc.strftime("%Y-%m-%dT%H:%M:%S.%LZ")})" : ""
        return "#{cls} cannot run on Lambda: no running poller declares it#{last}. Declare it in sidekiq-lambda.config.ts — " \
          "{ class: '#{cls}', queue: '<its Sidekiq queue>', shared: true, entry: 'functions/<file>.ts' } — deploy the poller, then route it again"
      end
      if percent < 100 && d && !d.shared
        return "#{cls} runs only on Lambda: its queue #{d.queue} is drained by the poller, so Ruby never sees its jobs. " \
          "Declare it with shared: true (and let Ruby drain #{d.queue}), deploy the poller, then route a share of it to Ruby"
      end
      nil
    end

    # Applies a change (:lambda with a percent, :ruby, :pause, :resume, :forget); returns [before, after].
    def change(cls, action, percent: nil, by:)
      view = Store.load_view
      pct = {lambda: percent, ruby: 0}[action]
      raise Refused, refusal(view, cls, pct) if refusal(view, cls, pct)
      current = view.routes[cls]
      d = view.declared[cls]
      unrouted = (d && !d.shared) ? 100 : 0
      at = now_ms
      after = case action
      when :lambda, :ruby then Routing::Entry.new(pct, false, by, at)
      when :pause then Routing::Entry.new(current ? current.percent : unrouted, true, by, at)
      when :resume then Routing::Entry.new(current ? current.percent : unrouted, false, by, at)
      when :forget then nil
      else raise ArgumentError, "unknown change #{action.inspect}"
      end
      record = {"at" => at, "by" => by, "class" => cls, "from" => Routing.describe(current), "to" => after ? Routing.describe(after) : "removed"}
      Store.redis do |conn|
        conn.multi do |m|
          after ? m.hset(Store::ROUTES, cls, Routing.write_entry(after)) : m.hdel(Store::ROUTES, cls)
          m.lpush(Store::ROUTE_LOG, JSON.generate(record))
          m.ltrim(Store::ROUTE_LOG, 0, Store::ROUTE_LOG_MAX - 1)
        end
      end
      SidekiqLambda.cache.reset!
      [current, after]
    end

    # Moves `cls`'s waiting jobs to their side (lib/routing/migrate.ts `migrateClass`); stops at
    # `deadline` (monotonic seconds) — each job moves atomically, the rest move as they are fetched.
    def migrate(cls, deadline: nil)
      view = Store.load_view
      result = {"to_lambda" => 0, "to_ruby" => 0, "rewritten" => 0, "missed" => 0, "complete" => true}
      stop = lambda do
        next false unless deadline && ::Process.clock_gettime(::Process::CLOCK_MONOTONIC) > deadline
        result["complete"] = false
        true
      end
      lists(view, cls).each do |key, where|
        break if stop.call
        migrate_list(view, cls, key, where, result, stop)
      end
      %w[schedule retry].each do |set|
        break if stop.call
        migrate_set(view, cls, set, result, stop)
      end
      result
    end

    def lists(view, cls)
      d = view.declared[cls]
      out = []
      out << ["queue:#{d.lambda_queue}", d.lambda_queue] if d
      out << ["queue:#{d.queue}", d.queue] if d&.shared
      out << [Store.held(cls), :held]
      out
    end

    def migrate_list(view, cls, key, where, result, stop)
      offset = 0
      loop do
        break if stop.call
        raws = Store.redis { |c| c.lrange(key, offset, offset + CHUNK - 1) }
        break if raws.empty?
        dests = {}
        argv_jobs = []
        sides = []
        raws.each do |raw|
          job = begin
            Sidekiq.load_json(raw)
          rescue
            next
          end
          next unless job.is_a?(Hash) && Routing.routed_class(job) == cls
          kind, queue, payload, side = Routing.placement(view, job, where)
          next unless kind == :move
          dests[queue] ||= dests.size + 1
          argv_jobs.push(raw, dests[queue], Sidekiq.dump_json(payload))
          sides << side
        end
        moved = 0
        unless argv_jobs.empty?
          names = dests.keys
          statuses = Store.redis { |c| Store.eval_script(c, MOVE, [key, "queues", *names.map { |q| "queue:#{q}" }], [names.size, *names, *argv_jobs]) }
          statuses.each_with_index do |s, i|
            if s.to_i == 1
              moved += 1
              result[(sides[i] == :lambda) ? "to_lambda" : "to_ruby"] += 1
            else
              result["missed"] += 1
            end
          end
        end
        offset += raws.size - moved
      end
    end

    def migrate_set(view, cls, set, result, stop)
      start = 0
      loop do
        break if stop.call
        members = Store.redis { |c| c.zrange(set, start, start + CHUNK - 1) }
        break if members.empty?
        pairs = []
        members.each do |raw|
          job = begin
            Sidekiq.load_json(raw)
          rescue
            next
          end
          next unless job.is_a?(Hash) && Routing.routed_class(job) == cls
          next if Routing.decide(view.routes, cls, Routing.jid_draw(job["jid"])) == :unrouted
          kind, _q, payload, _side = Routing.placement(view, job, :held)
          next unless kind == :move
          text = Sidekiq.dump_json(payload)
          pairs.push(raw, text) unless payload.equal?(job)
        end
        unless pairs.empty?
          Store.redis { |c| Store.eval_script(c, REWRITE, [set], pairs) }.each do |s|
            (s.to_i == 1) ? result["rewritten"] += 1 : result["missed"] += 1
          end
        end
        start += members.size
      end
    end

    # Jobs per side and held (lib/routing/migrate.ts `countJobs`), lists and sets read up to COUNT_LIMIT.
    def counts(view, classes)
      out = classes.to_h { |c| [c, {"ruby" => {"queued" => 0, "scheduled" => 0, "retries" => 0}, "lambda" => {"queued" => 0, "scheduled" => 0, "retries" => 0}, "held" => 0, "partial" => false}] }
      declared = classes.select { |c| view.declared[c] }
      lens = Store.redis do |conn|
        conn.pipelined do |p|
          classes.each { |c| p.llen(Store.held(c)) }
          declared.each { |c| p.llen("queue:#{view.declared[c].lambda_queue}") }
        end
      end
      classes.each_with_index { |c, i| out[c]["held"] = lens[i].to_i }
      declared.each_with_index { |c, i| out[c]["lambda"]["queued"] = lens[classes.size + i].to_i }
      tally = lambda do |raw, field|
        job = begin
          Sidekiq.load_json(raw)
        rescue
          return
        end
        return unless job.is_a?(Hash) && out.key?(cls = Routing.routed_class(job))
        side = Routing.marked?(job) ? "lambda" : "ruby"
        out[cls][side][field] += 1
      end
      declared.map { |c| view.declared[c] }.select(&:shared).map(&:queue).uniq.each do |q|
        raws = Store.redis { |c| c.lrange("queue:#{q}", 0, COUNT_LIMIT - 1) }
        raws.each { |raw| tally.call(raw, "queued") }
        classes.each { |c| out[c]["partial"] = true if view.declared[c]&.queue == q } if raws.size >= COUNT_LIMIT
      end
      {"schedule" => "scheduled", "retry" => "retries"}.each do |set, field|
        raws = Store.redis { |c| c.zrange(set, 0, COUNT_LIMIT - 1) }
        raws.each { |raw| tally.call(raw, field) }
        out.each_value { |v| v["partial"] = true } if raws.size >= COUNT_LIMIT
      end
      out
    end

    # The last hour per class and side (lib/routing/stats.ts `readSideStats`).
    def last_hour(now = Time.now, minutes = 60)
      hashes = Store.redis { |c| c.pipelined { |p| minutes.times { |i| p.hgetall(Store.route_stats(now - i * 60)) } } }
      out = Hash.new { |h, k| h[k] = {"ruby" => {"processed" => 0, "failed" => 0, "ms" => 0}, "lambda" => {"processed" => 0, "failed" => 0, "ms" => 0}} }
      hashes.each do |hash|
        Store.to_hash(hash).each do |field, value|
          m = /\A(.*)\|(ruby|lambda)\|(p|f|ms)\z/.match(field) or next
          out[m[1]][m[2]][{"p" => "processed", "f" => "failed", "ms" => "ms"}[m[3]]] += value.to_i
        end
      end
      out.each_value do |c|
        c.each_value do |s|
          ok = s["processed"] - s["failed"]
          s["avg_ms"] = (s["ms"].to_f / ok).round if ok > 0
        end
      end
      out
    end

    # The latest changes, newest first.
    def log(limit = 20)
      Store.redis { |c| c.lrange(Store::ROUTE_LOG, 0, limit - 1) }.filter_map do |text|
        JSON.parse(text)
      rescue JSON::ParserError
        nil
      end
    end

    # Every routed class and every class a running poller declares.
    def classes(view)
      (view.routes.keys + view.declared.select { |_, d| fresh?(d) }.keys).uniq.sort
    end
  end
end
