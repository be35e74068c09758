# frozen_string_literal: true

# Bundler requires a gem by its name: `gem "sidekiq-lambda", path: "…"` loads this file.
require "sidekiq_lambda"
