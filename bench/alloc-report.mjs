// Sums a sampling heap profile written by bench/alloc-sample.mjs per function (self bytes) and
// divides by a request count: what each function allocated per request.
//   node bench/alloc-report.mjs /tmp/alloc-PID.json REQUESTS [TOP=30]
import { readFileSync } from 'node:fs';

const [file, requests, top = '30'] = process.argv.slice(2);
const n = Number(requests);
if (!file || !(n > 0)) {
  console.error('usage: alloc-report.mjs PROFILE.json REQUESTS [TOP]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const self = new Map();
let total = 0;
const walk = (node) => {
  const f = node.callFrame;
  const name = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber + 1}`;
  self.set(name, (self.get(name) ?? 0) + node.selfSize);
  total += node.selfSize;
  for (const c of node.children ?? []) walk(c);
};
walk(profile.head);
console.log(`${total} bytes sampled, ${(total / n).toFixed(0)} per request`);
for (const [name, bytes] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(`${(bytes / n).toFixed(1).padStart(8)}  ${name}`);
