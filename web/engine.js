// engine.js — the WebAssembly engine behind messages, whatever the thread it runs in: the browser's module
// worker (worker.js) and Node's worker thread (node/worker.js) each give it what differs between them — how
// to start the Emscripten module, how to read the model's bytes, how messages come and go — and it does the
// rest: starts the engine while the model arrives, loads the model into the wasm heap, calls
// sl_wasm_recognize, turns its UTF-8 byte offsets into UTF-16 indices.
//
// Messages in:  { id, type: 'load', url, sha256, expectedBytes, threads, wasmBase }
//               { id, type: 'recognize', text, aggregation, threshold, dates }
// Messages out: { id, type: 'progress', phase, loaded, total }
//               { id, type: 'ready', labels, types, info }   { id, type: 'result', entities, ms }
//               { id, type: 'error', message, code }
// Messages are handled one at a time, in order.

const AGGREGATIONS = ['none', 'simple', 'first', 'average', 'max'];
const DECODINGS = ['viterbi', 'argmax']; // sl_decoding's order (SL_DECODE_VITERBI 0, SL_DECODE_ARGMAX 1)

// A one-function module using a v128 instruction: validates only where wasm SIMD is supported.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0,
  253, 15, 11]);

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

// host: {
//   listen(onMessage)          calls onMessage(data) for every message in
//   post(message)              sends a message out
//   isolated                   whether shared memory (the pthreads build) is allowed here
//   startEngine(build, options, wasmBase)   resolves to the Emscripten module of build ('surligne' or
//                              'surligne-mt') created with options; wasmBase: the caller's folder of the
//                              engine's files, or undefined for the host's own
//   readModel(url, { sha256, expectedBytes, onProgress, accept })   resolves to { bytes, source, sha256, stored,
//                              storeError, repaired }; may call accept(bytes) (which loads them into the
//                              engine) before keeping them, as store.js's loadModel does
// }
export function serveEngine(host) {
  let M = null; // the Emscripten module
  let handle = 0; // sl_wasm_handle*
  let threads = 1;

  const engineError = () => new Error(M.UTF8ToString(M._sl_wasm_last_error()) || 'the engine failed');

  async function load({ id, url, sha256, expectedBytes, threads: wanted, wasmBase }) {
    if (!WebAssembly.validate(SIMD_PROBE)) {
      throw Object.assign(new Error('this browser lacks WebAssembly SIMD (needs Chrome 91, Firefox 89, Safari 16.4 or later)'),
        { code: 'unsupported' });
    }
    const t0 = performance.now();
    const progress = (p) => host.post({ id, type: 'progress', ...p });
    // start the engine while the model arrives
    threads = host.isolated && wanted > 1 ? wanted : 1;
    const build = threads > 1 ? 'surligne-mt' : 'surligne';
    const enginePromise = host.startEngine(build,
      { surlignePoolSize: threads - 1, printErr: (s) => console.warn(`surligne: ${s}`) }, wasmBase);
    enginePromise.catch(() => {}); // reported below, after the model's own errors
    // the model goes into the engine before the store keeps it: a file the engine refuses is never stored
    let n = 0;
    let modelMs = 0; // until the model's bytes are here
    const accept = async (bytes) => {
      modelMs = performance.now() - t0;
      progress({ phase: 'start', loaded: bytes.length, total: bytes.length });
      try {
        M = await enginePromise;
      } catch (err) {
        throw Object.assign(new Error(`cannot start the WebAssembly engine (${build}): ${err.message}`), { code: 'engine' });
      }
      n = bytes.length;
      const p = M._malloc(n);
      if (!p) throw Object.assign(new Error(`no memory for the model (${n} bytes)`), { code: 'memory' });
      M.HEAPU8.set(bytes, p); // HEAPU8 read after malloc: memory may have grown
      handle = M._sl_wasm_load(p, n); // owns p from here on, even on failure
      if (!handle) {
        const why = engineError().message;
        throw Object.assign(new Error(`the model ${url} cannot be read by the engine: ${why}`), { code: 'model' });
      }
    };
    const model = await host.readModel(url, { sha256, expectedBytes, onProgress: progress, accept });
    if (!handle) await accept(model.bytes); // a host that does not call accept (Node's, reading a file)
    model.bytes = null;
    // the model's labels and entity types (the engine's: labels without their prefixes, then the rule types)
    const strings = (at) => { const out = []; for (let i = 0, s; (s = at(handle, i)); i++) out.push(M.UTF8ToString(s)); return out; };
    host.post({
      id,
      type: 'ready',
      labels: strings(M._sl_wasm_label),
      types: strings(M._sl_wasm_type),
      info: {
        build,
        threads,
        simd: true,
        kernel: M.UTF8ToString(M._sl_wasm_kernel()), // the q8_0 product: 'wasm-relaxed' or 'wasm-simd128'
        crossOriginIsolated: host.isolated,
        source: model.source,
        bytes: n,
        sha256: model.sha256,
        stored: model.stored,
        storeError: model.storeError,
        repaired: model.repaired ?? null,
        maxTokens: M._sl_wasm_max_tokens(handle),
        modelMs,
        loadMs: performance.now() - t0,
      },
    });
  }

  function recognize({ id, text, aggregation = 'first', threshold = 0, dates = true, decoding = 'viterbi' }) {
    if (!handle) throw new Error('no model loaded');
    const agg = AGGREGATIONS.indexOf(aggregation);
    if (agg < 0) throw Object.assign(new Error(`unknown aggregation '${aggregation}' (${AGGREGATIONS.join(', ')})`), { code: 'argument' });
    const dec = DECODINGS.indexOf(decoding);
    if (dec < 0) throw Object.assign(new Error(`unknown decoding '${decoding}' (${DECODINGS.join(', ')})`), { code: 'argument' });
    const t0 = performance.now();
    const bytes = new TextEncoder().encode(text);
    const p = M._malloc(bytes.length + 1);
    if (!p) throw new Error(`no memory for the text (${bytes.length} bytes)`);
    let raw;
    try {
      M.HEAPU8.set(bytes, p);
      const json = M._sl_wasm_recognize(handle, p, bytes.length, agg, Number(threshold) || 0, -1, threads, dates ? 1 : 0,
        dec);
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
    host.post({ id, type: 'result', entities, ms: performance.now() - t0 });
  }

  let chain = Promise.resolve();
  host.listen((msg) => {
    chain = chain.then(async () => {
      try {
        if (msg.type === 'load') await load(msg);
        else if (msg.type === 'recognize') recognize(msg);
        else throw new Error(`unknown message '${msg.type}'`);
      } catch (err) {
        host.post({ id: msg.id, type: 'error', message: err?.message || String(err), code: err?.code || 'error' });
      }
    });
  });
}
