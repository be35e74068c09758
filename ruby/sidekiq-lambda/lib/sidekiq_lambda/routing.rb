# frozen_string_literal: true

require "json"

module SidekiqLambda
  # Per-class routing between Ruby and Lambda as data and pure decisions: the Ruby twin of
  # lib/protocol/routing.ts, so both sides decide every job alike.
  #
  # Tasks:
  # 1. Read the routing table's entries and the pollers' declarations (`View.parse`).
  # 2. Decide where a job runs (`decide`), from a draw fixed by its jid (`jid_draw`, FNV-1a): the
  #    client at enqueue, Ruby or the poller at fetch and a migration all reach the same answer.
  # 3. Say where a waiting job belongs (`placement`): stay, hold, or move — with `routed_from`
  #    recording its Ruby queue while it waits on the Lambda side.
  # 4. Keep a job the poller pinned to Ruby (`ruby_only`: Lambda cannot honour a feature it uses)
  #    on Ruby's side whatever its class's share (`decide_job`).
  module Routing
    ROUTED_FROM = "routed_from"
    # Set by the poller on a job it sent to Ruby because Lambda cannot honour what it names (lib/protocol/routing.ts RUBY_ONLY).
    RUBY_ONLY = "ruby_only"
    # How long every reader caches the table (lib/config.ts ROUTE_CACHE_MS).
    CACHE_SECONDS = 2.0
    # A declaration older than this is no running poller's (lib/routing/table.ts DECLARATION_FRESH_MS).
    DECLARATION_FRESH_SECONDS = 600

    Entry = Struct.new(:percent, :paused, :by, :at)
    Declaration = Struct.new(:queue, :shared, :lambda_queue, :by, :at)

    # The table and the declarations, as a reader caches them.
    View = Struct.new(:routes, :declared) do
      def self.parse(routes, declared)
        r = {}
        (routes || {}).each { |cls, text| (e = Routing.read_entry(text)) && (r[cls] = e) }
        d = {}
        (declared || {}).each { |cls, text| (e = Routing.read_declaration(text)) && (d[cls] = e) }
        new(r.freeze, d.freeze)
      end

      def empty?
        routes.empty?
      end
    end

    EMPTY_VIEW = View.new({}.freeze, {}.freeze)

    module_function

    # A number in [0, 1) fixed by the jid: FNV-1a (32 bit) of its bytes over 2**32.
    def jid_draw(jid)
      h = 0x811c9dc5
      jid.to_s.each_byte do |b|
        h ^= b
        h = (h * 0x01000193) & 0xffffffff
      end
      h / 4294967296.0
    end

    # :unrouted, :hold, :ruby or :lambda.
    def decide(routes, cls, draw)
      e = routes[cls] or return :unrouted
      return :hold if e.paused
      (draw * 100 < e.percent) ? :lambda : :ruby
    end

    # Where one job runs: its class's route for its jid, except that a job pinned to Ruby never goes to Lambda.
    def decide_job(routes, job)
      d = decide(routes, routed_class(job), jid_draw(job["jid"]))
      (d == :lambda && pinned?(job)) ? :ruby : d
    end

    def pinned?(job)
      v = job[RUBY_ONLY]
      v.is_a?(String) && !v.empty?
    end

    def describe(entry)
      return "unrouted" unless entry
      pct = (entry.percent == entry.percent.to_i) ? entry.percent.to_i : entry.percent
      side = (entry.percent <= 0) ? "ruby" : "lambda #{pct}%"
      entry.paused ? "paused (#{side})" : side
    end

    def read_entry(text)
      v = parse_object(text) or return nil
      pct = v["percent"]
      return nil unless pct.is_a?(Numeric) && pct >= 0 && pct <= 100
      Entry.new(pct, v["paused"] == true, v["by"].is_a?(String) ? v["by"] : "", v["at"].is_a?(Numeric) ? v["at"] : 0)
    end

    def write_entry(e)
      JSON.generate({"percent" => e.percent, "paused" => e.paused, "by" => e.by, "at" => e.at})
    end

    def read_declaration(text)
      v = parse_object(text) or return nil
      return nil unless v["queue"].is_a?(String) && v["lambdaQueue"].is_a?(String)
      Declaration.new(v["queue"], v["shared"] == true, v["lambdaQueue"], v["by"].is_a?(String) ? v["by"] : "", v["at"].is_a?(Numeric) ? v["at"] : 0)
    end

    def parse_object(text)
      return nil if text.nil? || text.empty?
      v = JSON.parse(text)
      v.is_a?(Hash) ? v : nil
    rescue JSON::ParserError
      nil
    end

    # The class a job is routed by: the ActiveJob class for wrapped jobs, else `class`.
    def routed_class(job)
      w = job["wrapped"]
      (w && !w.to_s.empty?) ? w.to_s : job["class"].to_s
    end

    # The queue a job returns to on Ruby's side.
    def original_queue(job, view)
      from = job[ROUTED_FROM]
      return from if from.is_a?(String) && !from.empty?
      q = job["queue"].to_s
      q = "default" if q.empty?
      d = view.declared[routed_class(job)]
      (d && d.shared && q == d.lambda_queue) ? d.queue : q
    end

    def marked?(job)
      job[ROUTED_FROM].is_a?(String)
    end

    # A copy of `job` as it waits on the Lambda side (Hash#[]= keeps `queue` in place, appends `routed_from`).
    def mark(job, lambda_queue, from)
      j = job.dup
      j["queue"] = lambda_queue
      j[ROUTED_FROM] = from
      j
    end

    # A copy of `job` as it waits on Ruby's side.
    def unmark(job, queue)
      j = job.dup
      j["queue"] = queue
      j.delete(ROUTED_FROM)
      j
    end

    # Where a job found in `where` (a queue name, or :held) belongs, as lib/protocol/routing.ts
    # `placement`: [:stay], [:hold, job] or [:move, queue, job, side].
    def placement(view, job, where)
      cls = routed_class(job)
      decision = decide_job(view.routes, job)
      original = original_queue(job, view)
      marked = marked?(job)
      back = marked ? unmark(job, original) : job
      case decision
      when :unrouted
        return (where == :held) ? [:move, original, back, :ruby] : [:stay]
      when :hold
        return (where == :held) ? [:stay] : [:hold, back]
      end
      decl = view.declared[cls]
      if decision == :lambda && decl
        return [:stay] if where == decl.lambda_queue
        payload = (original == decl.lambda_queue) ? job : mark(job, decl.lambda_queue, original)
        return [:move, decl.lambda_queue, payload, :lambda]
      end
      return [:stay] if decision == :lambda && where != :held
      return [:stay] if where == original && !marked
      [:move, original, back, :ruby]
    end
  end
end
