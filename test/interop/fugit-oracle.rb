# Real fugit as an oracle for test/interop/cron-fugit.test.ts: one JSON request per stdin line,
# one JSON answer per stdout line, in order. Run with TZ=UTC (a cron without a zone runs in the
# process's zone, and ours runs in UTC).
#
#   {"expr": "...", "from_ms": 1709953200000, "n": 3, "dir": "next"|"prev"}
#     -> {"accepted": true, "zone": "Europe/Berlin"|null, "tzname": "Europe/Berlin"|null,
#         "times": [epoch seconds, ...], "error": "Class: message"|null}
#     -> {"accepted": false, "refusal": "nil"|"Class: message", "fugit_parse": "Fugit::Cron"|...}
#   {"zones": true} -> {"zones": [TZInfo identifiers]}
require 'json'
require 'fugit'

# fugit turns every "first of next month" and "midnight of this day" into a string that et-orbi
# parses again (scanning ~600 zone names each time): most of the oracle's time. Remember those
# parses: same input, same zone, same answer (or the same TZInfo error), built afresh each time
# since fugit mutates what it gets back. Nothing else of fugit or et-orbi is touched.
module MemoizedParse
  def parse(str, opts = {})
    key = [str, opts[:zone] && opts[:zone].identifier, opts.keys.sort]
    hit = (@memo ||= {})[key] ||=
      begin
        t = super
        [:ok, t.seconds, t.zone]
      rescue StandardError => e
        [:error, e]
      end
    raise hit[1] if hit[0] == :error

    EtOrbi::EoTime.new(hit[1], hit[2])
  end
end
EtOrbi.singleton_class.prepend(MemoizedParse)

def answer(req)
  return { zones: TZInfo::Timezone.all_identifiers } if req['zones']

  expr = req['expr']
  cron =
    begin
      Fugit::Cron.parse(expr)
    rescue StandardError => e
      return { accepted: false, refusal: "#{e.class}: #{e.message[0, 120]}", fugit_parse: fugit_parse(expr) }
    end
  return { accepted: false, refusal: 'nil', fugit_parse: fugit_parse(expr) } unless cron

  out = { accepted: true, zone: cron.zone, tzname: cron.timezone && cron.timezone.name, times: [], error: nil }
  return out unless req['from_ms']

  t = Time.at(req['from_ms'] / 1000, req['from_ms'] % 1000, :millisecond).utc
  req['n'].times do
    r = req['dir'] == 'prev' ? cron.previous_time(t) : cron.next_time(t)
    out[:times] << r.to_i
    t = Time.at(r.to_i).utc
  end
  out
rescue StandardError => e
  out[:error] = "#{e.class}: #{e.message[0, 120]}"
  out
end

# What sidekiq-cron's Fugit.do_parse would make of it (natural language, a duration, a time).
def fugit_parse(expr)
  Fugit.parse(expr).class.name
rescue StandardError => e
  e.class.name
end

$stdin.each_line do |line|
  $stdout.puts(JSON.generate(answer(JSON.parse(line))))
end
