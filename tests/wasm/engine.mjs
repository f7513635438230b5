// Loads the WebAssembly engine in Node for the tests and the benchmark: the Node (CommonJS) glue of
// build-wasm/dist/node/ instantiated with the browser build's own .wasm bytes (dist/surligne*.wasm), so
// what is tested is the file that ships. Paths come from the environment or default to the build folders.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const DIST = process.env.SURLIGNE_WASM_DIST || path.join(ROOT, 'build-wasm/dist');
// the same builds with the test and benchmark entry points (web/surligne_wasm_test.c: logits, q8_0 products)
export const TEST_DIST = process.env.SURLIGNE_WASM_TEST_DIST || path.join(ROOT, 'build-wasm/dist-test');
export const CLI = process.env.SURLIGNE_CLI || path.join(ROOT, 'build/surligne');

export const AGGREGATIONS = ['none', 'simple', 'first', 'average', 'max'];

const require = createRequire(import.meta.url);

// variant: '' (one thread) or '-mt' (pthreads, poolSize workers started with the module); dist: DIST (the
// shipped builds) or TEST_DIST; kernel: a q8_0 kernel to run instead of the fastest (sl_wasm_select_kernel:
// 'scalar-u7' computes what Chromium's relaxed-SIMD kernel does).
export async function loadEngine(variant = '', { poolSize = 3, dist = DIST, kernel } = {}) {
  const factory = require(path.join(dist, 'node', `surligne${variant}.cjs`));
  const M = await factory({
    wasmBinary: readFileSync(path.join(dist, `surligne${variant}.wasm`)),
    surlignePoolSize: poolSize,
  });
  if (kernel) {
    const name = Buffer.from(`${kernel}\0`);
    const p = M._malloc(name.length);
    M.HEAPU8.set(name, p);
    const rc = M._sl_wasm_select_kernel(p);
    M._free(p);
    if (rc) throw new Error(`the engine has no q8_0 kernel '${kernel}'`);
  }
  return new Engine(M);
}

class Engine {
  constructor(M) {
    this.M = M;
    this.hasThreads = M._sl_wasm_has_threads() === 1;
  }

  // Ends the pthreads build's worker threads (they would keep Node running); the engine is unusable after.
  terminate() {
    this.M.terminateThreads?.();
  }

  error() {
    return `${this.M._sl_wasm_last_status()}: ${this.M.UTF8ToString(this.M._sl_wasm_last_error())}`;
  }

  // The rule recogniser alone, no model: [{label, score, start, end, value?}] with byte offsets.
  dates(text) {
    const bytes = new TextEncoder().encode(text);
    const p = this.M._malloc(bytes.length + 1);
    try {
      this.M.HEAPU8.set(bytes, p);
      const json = this.M._sl_wasm_dates(p, bytes.length);
      if (!json) throw new Error(this.error());
      return JSON.parse(this.M.UTF8ToString(json));
    } finally {
      this.M._free(p);
    }
  }

  // bytes: a Uint8Array of GGUF. Returns a Model; throws with the engine's message.
  load(bytes) {
    const p = this.M._malloc(bytes.length);
    if (!p) throw new Error('no memory for the model bytes');
    this.M.HEAPU8.set(bytes, p); // HEAPU8 read after malloc: memory may have grown
    const h = this.M._sl_wasm_load(p, bytes.length); // owns p from here on, even on failure
    if (!h) throw new Error(this.error());
    return new Model(this, h);
  }
}

class Model {
  constructor(engine, handle) {
    this.engine = engine;
    this.h = handle;
  }

  json(ptr) {
    if (!ptr) throw new Error(this.engine.error());
    return JSON.parse(this.engine.M.UTF8ToString(ptr));
  }

  labels() {
    const { M } = this.engine;
    return Array.from({ length: M._sl_wasm_n_labels(this.h) }, (_, i) => M.UTF8ToString(M._sl_wasm_label(this.h, i)));
  }

  maxTokens() {
    return this.engine.M._sl_wasm_max_tokens(this.h);
  }

  // Entities {label, score, start, end, value?} with byte offsets into the UTF-8 text.
  recognize(text, { aggregation = 'first', threshold = 0, stride = -1, threads = 1, dates = true,
    decoding = 'viterbi' } = {}) {
    const M = this.engine.M;
    const agg = AGGREGATIONS.indexOf(aggregation);
    const dec = ['viterbi', 'argmax'].indexOf(decoding);
    const bytes = new TextEncoder().encode(text);
    const p = M._malloc(bytes.length + 1);
    try {
      M.HEAPU8.set(bytes, p);
      return this.json(M._sl_wasm_recognize(this.h, p, bytes.length, agg < 0 ? 99 : agg, threshold, stride, threads,
        dates ? 1 : 0, dec < 0 ? 99 : dec));
    } finally {
      M._free(p);
    }
  }

  free() {
    this.engine.M._sl_wasm_free(this.h);
    this.h = 0;
  }
}
