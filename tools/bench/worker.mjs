// The Web Worker of the Chromium benchmark (module worker, started by the page tools/bench/browser.mjs serves):
// the browser twin of tools/bench/run.mjs. One message in, one out:
//   in:  { engine: 'ort-web' | 'surligne-wasm', threads, models: [URL...], inputs: [{seq, ids, text}], repeat, warmup,
//          budget } (budget: as run.mjs's --budget, in seconds)
//   out: { type: 'mark', phase: 'start' | 'end' } around each timed loop, then
//        { type: 'done', info, check, results: [{model, seq, times, median, logits?}] }  or  { type: 'error', message }
// logits: onnxruntime's last run's; surligne's from sl_wasm_logits (untimed), where the build has it.
// Model bytes are fetched here, in the worker, as the product does: onnxruntime-web gets the fetched
// ArrayBuffer as is; surligne's heap is allocated first and the response streamed into it, with no
// copy in between. `check` is what the threads really were: crossOriginIsolated, the Workers the engine
// started (Worker is wrapped to count them), onnxruntime's numThreads after its initialisation; and
// surligne's q8_0 kernel.
import { surligneLogits } from './logits.mjs';
const NativeWorker = self.Worker;
let workersStarted = 0;
self.Worker = class extends NativeWorker {
  constructor(...args) {
    super(...args);
    workersStarted++;
  }
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// The timed runs are bracketed by marks to the page, which browser.mjs turns into the CPU time Chromium
// used meanwhile (threads really at work show as more CPU than wall-clock time).
async function timeAsync(fn, { repeat, warmup, budget }) {
  const enough = (times) => times.length >= repeat ||
    (budget > 0 && times.length >= 3 && times.reduce((a, b) => a + b, 0) >= budget * 1e3);
  let out;
  for (let i = 0; i < warmup; i++) out = await fn();
  const times = [];
  postMessage({ type: 'mark', phase: 'start' });
  while (!enough(times)) {
    const t0 = performance.now();
    out = await fn();
    times.push(performance.now() - t0);
  }
  postMessage({ type: 'mark', phase: 'end' });
  return { times, out };
}

async function fetchOk(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

async function runOrt({ threads, models, inputs, ...timing }) {
  const base = new URL('/ort/', self.location.href).href;
  const ort = await import(`${base}ort.wasm.min.mjs`);
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = base;
  ort.env.wasm.proxy = false; // already off the page's thread
  ort.env.logLevel = 'error';
  const results = [];
  for (const model of models) {
    const bytes = new Uint8Array(await (await fetchOk(model)).arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
    for (const { seq, ids } of inputs) {
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, seq]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(seq).fill(1n), [1, seq]),
      };
      const { times, out } = await timeAsync(() => session.run(feeds), timing);
      results.push({ model, seq, times, median: median(times), logits: Array.from(out.logits.data) });
    }
    await session.release();
  }
  return {
    info: `onnxruntime ${ort.env.versions?.common ?? ''}`,
    check: { ortNumThreads: ort.env.wasm.numThreads },
    results,
  };
}

// Streams a GGUF file into the engine's heap: malloc'd from Content-Length, filled chunk by chunk.
async function loadGguf(M, url) {
  const res = await fetchOk(url);
  const n = Number(res.headers.get('Content-Length'));
  if (!n) throw new Error(`${url}: no Content-Length`);
  const p = M._malloc(n);
  if (!p) throw new Error(`no memory for ${url} (${n} bytes)`);
  const heap = M.HEAPU8; // read after malloc: memory may have grown; nothing allocates while streaming
  let at = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (at + value.length > n) throw new Error(`${url}: longer than its Content-Length`);
    heap.set(value, p + at);
    at += value.length;
  }
  if (at !== n) throw new Error(`${url}: ${at} of ${n} bytes`);
  const h = M._sl_wasm_load(p, n); // owns p from here on, even on failure
  if (!h) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
  return h;
}


async function runSurligne({ threads, models, inputs, kernel: want, ...timing }) {
  const build = threads > 1 ? 'surligne-mt' : 'surligne';
  const factory = (await import(new URL(`/wasm/${build}.mjs`, self.location.href).href)).default;
  const M = await factory({ surlignePoolSize: threads - 1, printErr: (s) => console.warn(`surligne: ${s}`),
    ...(want ? { surligneKernel: want } : {}) });
  const results = [];
  for (const model of models) {
    const h = await loadGguf(M, model);
    for (const { seq, text } of inputs) {
      // as tests/wasm/engine.mjs's recognize(text, {threads}): aggregation 'first', threshold 0, no stride
      const recognize = () => {
        const bytes = new TextEncoder().encode(text);
        const p = M._malloc(bytes.length + 1);
        try {
          M.HEAPU8.set(bytes, p);
          const json = M._sl_wasm_recognize(h, p, bytes.length, 2, 0, -1, threads);
          if (!json) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
          return JSON.parse(M.UTF8ToString(json));
        } finally {
          M._free(p);
        }
      };
      const { times } = await timeAsync(recognize, timing);
      results.push({ model, seq, times, median: median(times), logits: surligneLogits(M, h, text, seq) });
    }
    M._sl_wasm_free(h);
  }
  // the q8_0 product the engine picked in this browser (wasm-relaxed or wasm-simd128), where it says
  const kernel = M._sl_wasm_kernel ? M.UTF8ToString(M._sl_wasm_kernel()) : undefined;
  return { info: `${build}.wasm`, check: { hasThreads: M._sl_wasm_has_threads() === 1, kernel }, results };
}

self.onmessage = async ({ data }) => {
  try {
    const r = data.engine === 'ort-web' ? await runOrt(data) : await runSurligne(data);
    r.check = { ...r.check, crossOriginIsolated: self.crossOriginIsolated === true, workersStarted };
    postMessage({ type: 'done', ...r });
  } catch (err) {
    postMessage({ type: 'error', message: err?.stack || String(err) });
  }
};
