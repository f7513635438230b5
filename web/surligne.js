// surligne.js — French named entities in the browser, offline: the JS API of the WebAssembly engine.
//
//   import { Surligne } from './web/surligne.js';      // or, from the npm package: from 'surligne'
//   const ner = await Surligne.load('weights/surligne-small-fr.gguf', {
//     sha256: '7c20…',                                   // checked on download and on every read back
//     onProgress: ({ phase, loaded, total }) => {},     // phase: download, cached, verify, store, start
//     threads: 4,                                       // > 1 uses the pthreads build where crossOriginIsolated
//   });
//   const entities = await ner.recognize(text, { aggregation: 'first', threshold: 0, dates: true, decoding: 'viterbi', signal });
//   // [{ label: 'PER', score: 0.98, text: 'Nicolas Sarkozy', start: 57, end: 72 },
//   //  { label: 'DATE', score: 1, text: 'le 14 juillet 1789', start: 80, end: 98, value: '1789-07-14' }]
//   // text.slice(start, end) is the entity; DATE, TIME, MONEY and PERCENT come from the engine's rule
//   // recogniser (dates: false leaves them out), with a normalised value where there is one
//   ner.labels;     // the model's labels, id2label order: ['O', 'B-PER', 'I-PER', …]
//   ner.entityTypes; // the model's entity types, then the rule recogniser's: ['PER', …, 'DATE', 'TIME', …]
//   ner.info;       // { build, threads, simd, source: 'indexeddb' | 'network' | 'file', bytes, sha256, loadMs, … }
//   ner.dispose();  // ends the worker and frees the model
//
// The engine runs in a Web Worker (worker.js; under Node a worker thread, node/surligne.js): the page's
// thread never blocks. Calls queue and run one at a time; a call whose AbortSignal fires is dropped if still
// queued, and its result discarded if running; either way its promise rejects with an AbortError at once.
// The model file comes from IndexedDB when a verified copy is there (store.js), else from the network. Offsets are UTF-16 indices into `text`,
// converted from the engine's UTF-8 byte offsets: exact with accents, combining marks and emoji.

export const AGGREGATIONS = ['none', 'simple', 'first', 'average', 'max'];
export const DECODINGS = ['viterbi', 'argmax']; // sl_decoding's order: the index is passed to the engine
// The entity types of the engine's rule recogniser (engine/dates.c), whatever the model.
export const RULE_TYPES = ['DATE', 'TIME', 'MONEY', 'PERCENT'];

function abortError(signal) {
  const reason = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('the call was cancelled', 'AbortError');
}

function errorFrom(msg) {
  const err = new Error(msg.message);
  err.code = msg.code;
  return err;
}

// The browser: a module Web Worker (worker.js, named by a literal URL so that bundlers find it), URLs relative
// to the page, threads where the page is cross-origin isolated.
const BROWSER = {
  resolve: (u) => new URL(u, globalThis.location?.href).href,
  isolated: () => globalThis.crossOriginIsolated === true,
  cores: () => globalThis.navigator?.hardwareConcurrency || 1,
  worker: (workerUrl) => (workerUrl ? new Worker(workerUrl, { type: 'module', name: 'surligne' })
    : new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'surligne' })),
  // persistence can only be asked from a window; the worker stores the bytes
  persist: () => (globalThis.navigator?.storage?.persist ? navigator.storage.persist().catch(() => false)
    : Promise.resolve(false)),
};

export class Surligne {
  #worker;
  #nextId = 1;
  #queue = []; // recognize calls not yet sent
  #running = null;
  #broken = null;

  constructor(worker, labels, info, types) {
    this.#worker = worker;
    this.labels = labels;
    this.info = info;
    this.entityTypes = types; // the engine's (sl_model_type): the model's types in order, then the rule types
  }

  // Loads the engine and the model; resolves to a Surligne once the model is ready.
  static load(modelUrl, options = {}) {
    return this.open(BROWSER, modelUrl, options);
  }

  // load() on a host (BROWSER here; Node's is in node/surligne.js): how to start the worker, resolve the
  // model's URL, and what the platform allows.
  static async open(host, modelUrl, { sha256, onProgress, threads, expectedBytes, wasmBase, workerUrl } = {}) {
    const url = host.resolve(modelUrl);
    const isolated = host.isolated();
    const wanted = Math.max(1, Math.floor(threads ?? Math.min(host.cores(), 4)));
    const worker = host.worker(workerUrl);
    const persisted = host.persist();
    const t0 = performance.now();
    const ready = new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.type === 'progress') onProgress?.({ phase: data.phase, loaded: data.loaded, total: data.total });
        else if (data.type === 'ready') resolve(data);
        else if (data.type === 'error') reject(errorFrom(data));
      };
      worker.onerror = (e) => {
        e.preventDefault?.();
        reject(new Error(`the surligne worker failed to start: ${e.message || 'script error (is the page served over http?)'}`));
      };
    });
    worker.postMessage({
      id: 0,
      type: 'load',
      url,
      sha256,
      expectedBytes,
      threads: isolated ? wanted : 1,
      wasmBase: wasmBase ? host.resolve(wasmBase) : undefined, // undefined: ../wasm/, named by the worker
    });
    let answer;
    try {
      answer = await ready;
    } catch (err) {
      worker.terminate();
      throw err;
    }
    const info = { ...answer.info, persisted: await persisted, readyMs: performance.now() - t0, requestedThreads: wanted };
    const ner = new this(worker, answer.labels, info, answer.types);
    worker.onmessage = ({ data }) => ner.#answer(data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      ner.#fail(new Error(`the surligne worker stopped: ${e.message || 'unknown error'}`));
    };
    return ner;
  }

  // Entities of text: [{ label, score, text, start, end, value? }], start/end UTF-16 indices into text.
  recognize(text, { aggregation = 'first', threshold = 0, dates = true, decoding = 'viterbi', signal } = {}) {
    if (this.#broken) return Promise.reject(this.#broken);
    if (typeof text !== 'string') return Promise.reject(new TypeError('recognize(text): text must be a string'));
    if (!AGGREGATIONS.includes(aggregation)) {
      return Promise.reject(new RangeError(`unknown aggregation '${aggregation}' (${AGGREGATIONS.join(', ')})`));
    }
    if (!DECODINGS.includes(decoding)) {
      return Promise.reject(new RangeError(`unknown decoding '${decoding}' (${DECODINGS.join(', ')})`));
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise((resolve, reject) => {
      const job = { id: this.#nextId++, text, aggregation, threshold, dates: dates !== false, decoding, signal, resolve,
        reject, settled: false };
      if (signal) {
        job.onAbort = () => {
          const i = this.#queue.indexOf(job);
          if (i >= 0) this.#queue.splice(i, 1); // queued: never sent
          this.#settle(job, null, abortError(signal)); // running: the answer will be dropped
        };
        signal.addEventListener('abort', job.onAbort, { once: true });
      }
      this.#queue.push(job);
      this.#pump();
    });
  }

  // Number of calls queued or running.
  get pending() {
    return this.#queue.length + (this.#running ? 1 : 0);
  }

  dispose() {
    this.#fail(new Error('this Surligne was disposed'));
  }

  #settle(job, value, error) {
    if (job.settled) return;
    job.settled = true;
    job.signal?.removeEventListener('abort', job.onAbort);
    if (error) job.reject(error);
    else job.resolve(value);
  }

  #pump() {
    if (this.#running || this.#broken) return;
    const job = this.#queue.shift();
    if (!job) return;
    this.#running = job;
    this.#worker.postMessage({ id: job.id, type: 'recognize', text: job.text, aggregation: job.aggregation,
      threshold: job.threshold, dates: job.dates, decoding: job.decoding });
  }

  #answer(data) {
    const job = this.#running;
    if (!job || data.id !== job.id) return;
    if (data.type === 'progress') return;
    this.#running = null;
    if (data.type === 'result') {
      this.lastMs = data.ms;
      this.#settle(job, data.entities, null);
    } else {
      this.#settle(job, null, errorFrom(data));
    }
    this.#pump();
  }

  #fail(err) {
    if (this.#broken) return;
    this.#broken = err;
    this.#worker.terminate();
    for (const job of [this.#running, ...this.#queue]) if (job) this.#settle(job, null, err);
    this.#running = null;
    this.#queue = [];
  }
}

export default Surligne;
