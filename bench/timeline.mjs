// A timeline from inside a Node process, for tails that a CPU profile averages away:
//   node --import ./bench/timeline.mjs ...   (or NODEFLAGS="--import $PWD/bench/timeline.mjs" for bench/profile-hop.sh)
// Every TIMELINE_MS (500) ms it writes one line to stderr:
//   TL <unix ms> cpu% <process CPU, all threads> eldmax <ms> eldp99 <ms> gc <count>/<total ms> max <ms>
// eld = event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution): how late timers ran,
// which includes time the thread waited for its core. Add --trace-opt --trace-deopt to see
// recompilation next to it (docs/benchmarks.md, "Fixed-rate tail").
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';

const every = Number(process.env.TIMELINE_MS) || 500;
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
let gcMs = 0;
let gcN = 0;
let gcMax = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    gcN++;
    gcMax = Math.max(gcMax, e.duration);
  }
}).observe({ entryTypes: ['gc'] });
let cpu = process.cpuUsage();
let at = performance.now();
setInterval(() => {
  const c = process.cpuUsage(cpu);
  const now = performance.now();
  const pct = ((c.user + c.system) / 1000 / (now - at)) * 100;
  process.stderr.write(`TL ${Date.now()} cpu% ${pct.toFixed(0)} eldmax ${(h.max / 1e6).toFixed(2)} eldp99 ${(h.percentile(99) / 1e6).toFixed(2)} gc ${gcN}/${gcMs.toFixed(1)}ms max ${gcMax.toFixed(2)}\n`);
  h.reset();
  gcMs = 0;
  gcN = 0;
  gcMax = 0;
  cpu = process.cpuUsage();
  at = now;
}, every).unref();
