// node/surligne.js — the JS API under Node (>= 20): the browser's Surligne (../surligne.js), the same calls and
// answers, with its engine in a worker thread (node:worker_threads, node/worker.js) instead of a Web Worker.
//
//   import { Surligne } from 'surligne';            // the package's "node" export
//   const ner = await Surligne.load('surligne-small-fr.gguf', { sha256: 'b571…' });   // a path, file: or http(s) URL
//   console.log(await ner.recognize('Gérald Darmanin a rendu visite à Nicolas Sarkozy.'));
//   ner.dispose();                                  // ends the worker thread, so that Node can exit
//
// Differences from the browser: paths are relative to the current folder; a file is read where it is and a
// download is not kept (no IndexedDB: info.source is 'file' or 'network', info.stored false); threads are
// always allowed (SharedArrayBuffer needs no headers here), so `threads` (default min(cores, 4)) > 1 runs the
// pthreads build; the Emscripten glue is Node's CommonJS build (wasm/node/), with the same .wasm files. The
// files are found as the npm package lays them out (tools/build-package.mjs: web/node/, wasm/, wasm/node/).
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

import { Surligne as WebSurligne } from '../surligne.js';

export { AGGREGATIONS, RULE_TYPES } from '../surligne.js';

// A node:worker_threads Worker behind the part of the Web Worker interface that Surligne uses.
function webWorker(worker) {
  let ended = false;
  const w = {
    onmessage: null,
    onerror: null,
    postMessage: (message) => worker.postMessage(message),
    terminate: () => {
      ended = true;
      worker.terminate();
    },
  };
  worker.on('message', (data) => w.onmessage?.({ data }));
  worker.on('error', (err) => w.onerror?.({ message: err?.message || String(err) }));
  worker.on('exit', (code) => {
    if (!ended) w.onerror?.({ message: `the worker thread exited (code ${code})` });
  });
  return w;
}

// A model or wasmBase given as a URL (file:, http:, https:) or a path (relative to the current folder).
function resolve(where) {
  if (where instanceof URL) return where.href;
  const s = String(where);
  if (/^(file|https?):/i.test(s)) return new URL(s).href;
  return pathToFileURL(path.resolve(s)).href + (/[\\/]$/.test(s) ? '/' : '');
}

const NODE = {
  resolve,
  isolated: () => true,
  cores: () => availableParallelism(),
  worker: (workerUrl) => webWorker(new Worker(workerUrl ? new URL(resolve(workerUrl)) : new URL('./worker.js', import.meta.url))),
  persist: () => Promise.resolve(false),
};

export class Surligne extends WebSurligne {
  static load(modelUrl, options = {}) {
    return this.open(NODE, modelUrl, options);
  }
}

export default Surligne;
