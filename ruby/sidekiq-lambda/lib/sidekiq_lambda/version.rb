# frozen_string_literal: true

module SidekiqLambda
  VERSION = "0.1.0"
end
