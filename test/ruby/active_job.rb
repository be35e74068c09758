# ActiveJob on Sidekiq as a Rails app sets it up, without booting Rails: `require` this file instead of
# `ActiveJob::Base.queue_adapter = :sidekiq` alone.
#
# In a Rails app, `sidekiq/rails` (loaded by Bundler.require) installs Sidekiq's own adapter when ActiveJob loads,
# from Sidekiq 7.3 on: lib/active_job/queue_adapters/sidekiq_adapter.rb, whose JobWrapper inherits
# Sidekiq::ActiveJob::Wrapper. That wrapper is defined in sidekiq/rails.rb beside the Rails engine, which needs
# railties (and nokogiri, psych…); so the block defining it is taken from that file as it is and evaluated here.
# Older Sidekiq (6.4.1) ships no adapter: Rails' own SidekiqAdapter is used, as in a Rails app.
require "sidekiq"
require "active_job"

sidekiq_dir = Gem.loaded_specs.fetch("sidekiq").full_gem_path
sidekiq_adapter = File.join(sidekiq_dir, "lib/active_job/queue_adapters/sidekiq_adapter.rb")
if File.exist?(sidekiq_adapter)
  unless defined?(Sidekiq::ActiveJob::Wrapper)
    rails_rb = File.join(sidekiq_dir, "lib/sidekiq/rails.rb")
    block = File.read(rails_rb)[/^  module ActiveJob\n.*?^  end\n/m] or raise "#{rails_rb}: no `module ActiveJob` block"
    require "sidekiq/job"
    Sidekiq.module_eval(block, rails_rb)
  end
  require sidekiq_adapter
end
ActiveJob::Base.queue_adapter = :sidekiq
ActiveJob::Base.logger = Logger.new(nil)
