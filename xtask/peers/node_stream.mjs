// One sample of `cargo xtask bench streaming` under node: V8's streaming
// compiler (WebAssembly.compileStreaming over a Response whose body is a
// ReadableStream fed from the file in CHUNK pieces, at most RATE bytes a
// second), or batch (the whole file read, then WebAssembly.compile).
//
// usage: node [V8 flags] node_stream.mjs FILE stream|batch RATE CHUNK
//   RATE: bytes a second, 0 = as fast as the file reads.
// Prints one JSON line: {"total_ms", "after_last_byte_ms" (stream only),
// "peak_rss_mib"}; the module is compiled (under V8's default lazy
// compilation: validated, with functions compiled on first call).
import { openSync, readSync, closeSync, fstatSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const [file, mode, rateArg, chunkArg] = process.argv.slice(2);
const rate = Number(rateArg);
const chunk = Math.max(1, Number(chunkArg));
const t0 = performance.now();
let lastByte = null;
let module;
if (mode === 'batch') {
  module = await WebAssembly.compile(readFileSync(file));
} else if (mode === 'stream') {
  const fd = openSync(file, 'r');
  const size = fstatSync(fd).size;
  let sent = 0;
  const body = new ReadableStream({
    type: 'bytes',
    async pull(controller) {
      const buf = new Uint8Array(chunk);
      const n = readSync(fd, buf, 0, chunk, null);
      if (n > 0 && rate > 0) {
        const wait = ((sent + n) / rate) * 1e3 - (performance.now() - t0);
        if (wait > 0) await sleep(wait);
      }
      if (n > 0) {
        controller.enqueue(buf.subarray(0, n));
        sent += n;
      }
      if (n === 0 || sent >= size) {
        lastByte = performance.now();
        closeSync(fd);
        controller.close();
      }
    },
  });
  const response = new Response(body, { headers: { 'Content-Type': 'application/wasm' } });
  module = await WebAssembly.compileStreaming(response);
} else {
  throw new Error(`no mode ${mode}`);
}
const ready = performance.now();
globalThis.__keep = module;
const res = {
  total_ms: ready - t0,
  after_last_byte_ms: lastByte === null ? null : ready - lastByte,
  peak_rss_mib: process.resourceUsage().maxRSS / 1024,
};
console.log(JSON.stringify(res));
