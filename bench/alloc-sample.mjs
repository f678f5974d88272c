// Garbage per request, for a process under load: preload this module (node --import
// bench/alloc-sample.mjs ...) and send the process SIGUSR2 twice: the first starts V8's sampling
// heap profiler with the objects that young- and old-generation collections freed kept in the
// profile (so it counts what was allocated, not what is still alive); the second stops it and
// writes the profile to ALLOC_PROFILE_DIR (default /tmp) as alloc-PID.json, which
// bench/alloc-report.mjs sums per function. docs/benchmarks.md, section 2c, shows a use.
import inspector from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const session = new inspector.Session();
session.connect();
const dir = process.env.ALLOC_PROFILE_DIR ?? '/tmp';
let on = false;
process.on('SIGUSR2', () => {
  if (!on) {
    on = true;
    session.post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }, (e) => {
      if (e) process.stderr.write(`alloc-sample: ${e.message}\n`);
    });
    return;
  }
  on = false;
  session.post('HeapProfiler.stopSampling', (e, r) => {
    if (e) process.stderr.write(`alloc-sample: ${e.message}\n`);
    else writeFileSync(join(dir, `alloc-${process.pid}.json`), JSON.stringify(r.profile));
  });
});
