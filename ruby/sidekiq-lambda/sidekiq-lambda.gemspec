# frozen_string_literal: true

require_relative "lib/sidekiq_lambda/version"

Gem::Specification.new do |s|
  s.name = "sidekiq-lambda"
  s.version = SidekiqLambda::VERSION
  s.summary = "Move Sidekiq job classes to AWS Lambda one at a time: routing middleware and a Lambda tab for the Web UI"
  s.description = <<~DESC
    The Rails side of sidekiq-lambda: Sidekiq client and server middleware that send the share of a
    class routed to Lambda to the poller's queue (and hold a paused class's jobs), a fetch hook that
    forwards such jobs before Ruby loads their class, and a "Lambda" tab in the Sidekiq Web UI.
    Works with Sidekiq 6.4 and later (7.x, 8.x).
  DESC
  s.license = "MIT"
  s.authors = ["sidekiq-lambda contributors"]
  s.files = Dir["lib/**/*.{rb,erb,lua}", "README.md"]
  s.require_paths = ["lib"]
  s.required_ruby_version = ">= 2.7"
  s.add_dependency "sidekiq", ">= 6.4"
end
