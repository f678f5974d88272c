-- bench/proxy/wrk/paced.lua's fixed-rate run (the same schedule: this file loads it unchanged)
-- that also appends the run's whole latency histogram to a file, so that the requests of several
-- runs can be pooled into one distribution (bench/weft-tail.sh, bench/tail-pool.mjs).
-- Usage: WEFT_PACED_LUA=bench/proxy/wrk/paced.lua WEFT_HIST_FILE=F WEFT_HIST_LABEL=L \
--          wrk -t1 -cC -dD --latency -s bench/wrk-paced-hist.lua URL -- RATE 1
-- appends one line per distinct latency: "L LATENCY_US COUNT" (wrk's histogram has 1 us buckets).
-- Environment, not script arguments: wrk calls init() in each thread's Lua state and done() in
-- another one, which never saw init's arguments.
dofile(os.getenv("WEFT_PACED_LUA"))
local paced_done = done

done = function(summary, latency, requests)
  paced_done(summary, latency, requests)
  local f = assert(io.open(os.getenv("WEFT_HIST_FILE"), "a"))
  local label = os.getenv("WEFT_HIST_LABEL")
  for i = 1, #latency do
    local us, count = latency(i)
    f:write(string.format("%s %d %d\n", label, us, count))
  end
  f:close()
end
