// worker.js — the Web Worker that holds the WebAssembly engine (module worker, started by surligne.js).
// Everything slow happens here: the model download or IndexedDB read (store.js), the copy into the wasm
// heap, and sl_wasm_recognize. The page's thread only posts text and draws the answer.
//
// Messages in:  { id, type: 'load', url, sha256, expectedBytes, threads, wasmBase }
//               { id, type: 'recognize', text, aggregation, threshold, dates }
// Messages out: { id, type: 'progress', phase, loaded, total }
//               { id, type: 'ready', labels, info }   { id, type: 'result', entities, ms }
//               { id, type: 'error', message, code }
// Messages are handled one at a time, in order.
import { loadModel } from './store.js';

const AGGREGATIONS = ['none', 'simple', 'first', 'average', 'max'];

let M = null; // the Emscripten module
let handle = 0; // sl_wasm_handle*
let threads = 1;

// A one-function module using a v128 instruction: validates only where wasm SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0,
  253, 15, 11]);

function engineError() {
  return new Error(M.UTF8ToString(M._sl_wasm_last_error()) || 'the engine failed');
}

async function load({ id, url, sha256, expectedBytes, threads: wanted, wasmBase }) {
  if (!WebAssembly.validate(SIMD_PROBE)) {
    throw Object.assign(new Error('this browser lacks WebAssembly SIMD (needs Chrome 91, Firefox 89, Safari 16.4 or later)'),
      { code: 'unsupported' });
  }
  const t0 = performance.now();
  const progress = (p) => postMessage({ id, type: 'progress', ...p });
  // start the engine while the model arrives
  const isolated = self.crossOriginIsolated === true;
  threads = isolated && wanted > 1 ? wanted : 1;
  const build = threads > 1 ? 'surligne-mt' : 'surligne';
  const enginePromise = import(new URL(`${build}.mjs`, wasmBase).href).then((mod) =>
    mod.default({ surlignePoolSize: threads - 1, printErr: (s) => console.warn(`surligne: ${s}`) }));
  enginePromise.catch(() => {}); // reported below, after the model's own errors
  const model = await loadModel(url, { sha256, expectedBytes, onProgress: progress });
  const modelMs = performance.now() - t0;
  progress({ phase: 'start', loaded: model.bytes.length, total: model.bytes.length });
  try {
    M = await enginePromise;
  } catch (err) {
    throw Object.assign(new Error(`cannot start the WebAssembly engine (${build}): ${err.message}`), { code: 'engine' });
  }
  const n = model.bytes.length;
  const p = M._malloc(n);
  if (!p) throw Object.assign(new Error(`no memory for the model (${n} bytes)`), { code: 'memory' });
  M.HEAPU8.set(model.bytes, p); // HEAPU8 read after malloc: memory may have grown
  model.bytes = null;
  handle = M._sl_wasm_load(p, n); // owns p from here on, even on failure
  if (!handle) throw Object.assign(engineError(), { code: 'model' });
  const labelsPtr = M._sl_wasm_labels(handle);
  if (!labelsPtr) throw engineError();
  const labels = JSON.parse(M.UTF8ToString(labelsPtr));
  postMessage({
    id,
    type: 'ready',
    labels,
    info: {
      build,
      threads,
      simd: true,
      kernel: M.UTF8ToString(M._sl_wasm_kernel()), // the q8_0 product: 'wasm-relaxed' or 'wasm-simd128'
      crossOriginIsolated: isolated,
      source: model.source,
      bytes: n,
      sha256: model.sha256,
      stored: model.stored,
      storeError: model.storeError,
      maxTokens: M._sl_wasm_max_tokens(handle),
      modelMs,
      loadMs: performance.now() - t0,
    },
  });
}

// UTF-8 byte offsets (sorted, unique) -> UTF-16 indices of the same string, in one pass over it. An offset
// inside a character (the engine never gives one) is rounded down for a start and up for an end.
export function byteToUtf16(text, offsets) {
  const floor = new Map();
  const ceil = new Map();
  let k = 0;
  let b = 0;
  let i = 0;
  while (k < offsets.length && i <= text.length) {
    const cp = i < text.length ? text.codePointAt(i) : 0;
    const n8 = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4; // lone surrogates encode as U+FFFD: 3
    const n16 = cp > 0xffff ? 2 : 1;
    while (k < offsets.length && (offsets[k] < b + n8 || i === text.length)) {
      const o = offsets[k++];
      floor.set(o, i);
      ceil.set(o, o === b ? i : Math.min(i + n16, text.length));
    }
    b += n8;
    i += n16;
  }
  return { floor, ceil };
}

function recognize({ id, text, aggregation = 'first', threshold = 0, dates = true }) {
  if (!handle) throw new Error('no model loaded');
  const agg = AGGREGATIONS.indexOf(aggregation);
  if (agg < 0) throw Object.assign(new Error(`unknown aggregation '${aggregation}' (${AGGREGATIONS.join(', ')})`), { code: 'argument' });
  const t0 = performance.now();
  const bytes = new TextEncoder().encode(text);
  const p = M._malloc(bytes.length + 1);
  if (!p) throw new Error(`no memory for the text (${bytes.length} bytes)`);
  let raw;
  try {
    M.HEAPU8.set(bytes, p);
    const json = M._sl_wasm_recognize(handle, p, bytes.length, agg, Number(threshold) || 0, -1, threads, dates ? 1 : 0);
    if (!json) throw engineError();
    raw = JSON.parse(M.UTF8ToString(json));
  } finally {
    M._free(p);
  }
  const offsets = [...new Set(raw.flatMap((e) => [e.start, e.end]))].sort((a, b) => a - b);
  const { floor, ceil } = byteToUtf16(text, offsets);
  const entities = raw.map((e) => {
    const start = floor.get(e.start);
    const end = ceil.get(e.end);
    const entity = { label: e.label, score: e.score, text: text.slice(start, end), start, end };
    if (e.value !== undefined) entity.value = e.value; // the rule recogniser's normalised value
    return entity;
  });
  postMessage({ id, type: 'result', entities, ms: performance.now() - t0 });
}

let chain = Promise.resolve();

self.onmessage = (event) => {
  const msg = event.data;
  chain = chain.then(async () => {
    try {
      if (msg.type === 'load') await load(msg);
      else if (msg.type === 'recognize') recognize(msg);
      else throw new Error(`unknown message '${msg.type}'`);
    } catch (err) {
      postMessage({ id: msg.id, type: 'error', message: err?.message || String(err), code: err?.code || 'error' });
    }
  });
};
