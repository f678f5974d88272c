// The hottest functions of a V8 .cpuprofile (node --cpu-prof) by self time, and optionally by
// inclusive time: a text view of the flame graph for a terminal.
//   node bench/cpuprofile-top.mjs FILE [N=40] [INCLUSIVE_N]
// Percentages are of busy time (idle excluded). Native work shows under its JS caller or as
// (program) / (garbage collector); writeLatin1String and writev are the socket write syscalls.
import { readFileSync } from 'node:fs';

const [file, nSelf = '40', nIncl] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node bench/cpuprofile-top.mjs FILE [N] [INCLUSIVE_N]\n');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const key = (n) => {
  const f = n.callFrame;
  const u = f.url.replace(/^file:\/\//, '');
  const url = u.includes('/node_modules/') ? u.replace(/^.*\/node_modules\//, 'nm:') : u.replace(/^.*\/(dist|bench)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${url}${url ? `:${f.lineNumber + 1}` : ''}`;
};
const perNode = new Map();
for (let i = 0; i < p.samples.length; i++) perNode.set(p.samples[i], (perNode.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
const self = new Map();
const incl = new Map();
let total = 0;
for (const [id, t] of perNode) {
  total += t;
  const k = key(byId.get(id));
  self.set(k, (self.get(k) ?? 0) + t);
  const seen = new Set();
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = key(byId.get(cur));
    if (seen.has(kk)) continue;
    seen.add(kk);
    incl.set(kk, (incl.get(kk) ?? 0) + t);
  }
}
let idle = 0;
for (const [k, t] of self) if (k.startsWith('(idle)')) idle += t;
const busy = total - idle;
const top = (m, n) =>
  [...m]
    .filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('(root)'))
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, t]) => `${((100 * t) / busy).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
console.log(`profiled ${(total / 1e6).toFixed(1)} s, busy ${(busy / 1e6).toFixed(1)} s`);
console.log('--- self time');
console.log(top(self, Number(nSelf)));
if (nIncl) {
  console.log('--- inclusive time');
  console.log(top(incl, Number(nIncl)));
}
