// Runs one kernel under node: compile (timed), instantiate, call `run` once
// (timed: the first, cold call) and then N times (timed). Prints JSON
// {"compile_s","first_s","run_s":[...],"result"}.
// Prints {"error"} instead when compiling, instantiating or running fails (a trap).
// usage: node [V8 flags] node_kernel.mjs FILE.wasm N
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
const [file, n] = [process.argv[2], Number(process.argv[3] || 5)];
const bytes = readFileSync(file);
try {
  const t0 = performance.now();
  const module = new WebAssembly.Module(bytes);
  const t1 = performance.now();
  const instance = new WebAssembly.Instance(module, {});
  const run = instance.exports.run;
  const f0 = performance.now();
  let result = run();
  const first_s = (performance.now() - f0) / 1e3;
  const times = [];
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    result = run();
    times.push((performance.now() - s) / 1e3);
  }
  console.log(JSON.stringify({ compile_s: (t1 - t0) / 1e3, first_s, run_s: times, result: String(result) }));
} catch (e) {
  console.log(JSON.stringify({ error: String(e.message || e).slice(0, 300) }));
}
