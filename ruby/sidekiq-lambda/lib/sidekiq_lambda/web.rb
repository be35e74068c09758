# frozen_string_literal: true

require "cgi"
require "sidekiq/web"
require "sidekiq_lambda"
require "sidekiq_lambda/operations"

module SidekiqLambda
  # The "Lambda" tab of the Sidekiq Web UI (6.4+): every routed or declared class with its route,
  # its jobs waiting on each side, the last hour on each side, the latest changes, and buttons that
  # change a route exactly as `sidekiq-lambda route` does (the Web UI's CSRF protection guards them).
  #
  #   require "sidekiq/web"
  #   require "sidekiq_lambda/web"
  module Web
    VIEW = File.join(__dir__, "web", "lambda.erb")
    CLASS_NAME = /\A[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*\z/

    class << self
      # Who changes a route, for the log: `->(env) { env["warden"]&.user&.email }`.
      attr_writer :user
      # Seconds to wait after a change before migrating (every process's cache takes it first).
      attr_writer :migration_wait
      # Seconds a request may spend migrating; the rest of the jobs move as they are fetched.
      attr_writer :migration_budget

      def user
        @user ||= ->(env) { env["REMOTE_USER"] || "Web UI (#{::Rack::Request.new(env).ip})" }
      end

      def migration_wait
        @migration_wait || Routing::CACHE_SECONDS + 0.5
      end

      def migration_budget
        @migration_budget || 20
      end
    end

    def self.registered(app)
      app.get "/lambda" do
        @view = Store.load_view
        @classes = Operations.classes(@view)
        @counts = Operations.counts(@view, @classes)
        @hour = Operations.last_hour
        @log = Operations.log(20)
        @notice = request.params["notice"]
        @error = request.params["error"]
        erb(File.read(VIEW))
      end

      app.post "/lambda" do
        params = request.params
        cls = params["class"].to_s
        action = %w[lambda ruby pause resume forget].find { |a| a == params["change"].to_s }
        back = lambda { |kind, text| redirect("#{root_path}lambda?#{kind}=#{CGI.escape(text)}") }
        back.call("error", "not a job class name: #{cls.inspect}") unless CLASS_NAME.match?(cls)
        back.call("error", "unknown change #{params["change"].to_s.inspect}") unless action
        percent = nil
        if action == "lambda"
          m = /\A\s*(\d+(?:\.\d+)?)\s*%?\s*\z/.match(params["percent"].to_s)
          percent = m && m[1].to_f
          percent = percent.to_i if percent && percent == percent.to_i
          back.call("error", "a share of jobs must be a percentage from 0% to 100%, got #{params["percent"].to_s.inspect}") unless percent && percent <= 100
        end
        begin
          before, after = Operations.change(cls, action.to_sym, percent: percent, by: SidekiqLambda::Web.user.call(env))
        rescue Operations::Refused => e
          back.call("error", e.message)
        end
        notice = "#{cls}: #{after ? Routing.describe(after) : "unrouted"} (was #{Routing.describe(before)})"
        unless after&.paused
          sleep SidekiqLambda::Web.migration_wait
          r = Operations.migrate(cls, deadline: ::Process.clock_gettime(::Process::CLOCK_MONOTONIC) + SidekiqLambda::Web.migration_budget)
          notice += "; moved #{r["to_lambda"]} waiting jobs to Lambda and #{r["to_ruby"]} to Ruby, rewrote #{r["rewritten"]} scheduled/retry entries"
          notice += "; the rest move as they are fetched" unless r["complete"]
        end
        back.call("notice", notice)
      end
    end
  end
end

if Sidekiq::Web.respond_to?(:configure) # 8.0+: Sidekiq::Web.register is deprecated
  Sidekiq::Web.configure { |config| config.register(SidekiqLambda::Web, name: "lambda", tab: "Lambda", index: "lambda") }
elsif Sidekiq::Web.method(:register).parameters.any? { |_, name| name == :tab } # 7.x
  Sidekiq::Web.register(SidekiqLambda::Web, name: "lambda", tab: "Lambda", index: "lambda")
else # 6.x
  Sidekiq::Web.register(SidekiqLambda::Web)
  Sidekiq::Web.tabs["Lambda"] = "lambda"
end
