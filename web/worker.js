// worker.js — the Web Worker that holds the WebAssembly engine (module worker, started by surligne.js):
// engine.js does the work; this file says where the engine's files are and reads the model through the
// IndexedDB store (store.js). The page's thread only posts text and draws the answer.
//
// The engine's files are named by literal `new URL('../wasm/…', import.meta.url)`, so that a bundler (Vite,
// webpack) finds them, copies them into its output and rewrites the URLs, with no configuration; the
// Emscripten glue is given the URLs of its .wasm and pthreads worker (locateFile) and its own
// (mainScriptUrlOrBlob) instead of looking beside itself. A caller's wasmBase replaces them all.
import { serveEngine } from './engine.js';
import { loadModel } from './store.js';

const ENGINES = {
  surligne: {
    glue: new URL('../wasm/surligne.mjs', import.meta.url).href,
    files: { 'surligne.wasm': new URL('../wasm/surligne.wasm', import.meta.url).href },
  },
  'surligne-mt': {
    glue: new URL('../wasm/surligne-mt.mjs', import.meta.url).href,
    files: {
      'surligne-mt.wasm': new URL('../wasm/surligne-mt.wasm', import.meta.url).href,
      'surligne-mt.worker.js': new URL('../wasm/surligne-mt.worker.js', import.meta.url).href,
    },
  },
};

async function startEngine(build, options, wasmBase) {
  const glue = wasmBase ? new URL(`${build}.mjs`, wasmBase).href : ENGINES[build].glue;
  const files = wasmBase ? {} : { ...ENGINES[build].files };
  // A bundler may inline a small file as a data: URL (Vite does, under 4 KB: the pthreads worker); a worker
  // started from one has an opaque origin and cannot import the glue, so it gets a blob: URL of this origin.
  for (const [file, url] of Object.entries(files)) {
    if (url.startsWith('data:')) files[file] = URL.createObjectURL(await (await fetch(url)).blob());
  }
  const { default: create } = await import(/* @vite-ignore */ /* webpackIgnore: true */ glue);
  return create({ ...options, locateFile: (file) => files[file] ?? new URL(file, glue).href, mainScriptUrlOrBlob: glue });
}

serveEngine({
  listen: (onMessage) => {
    self.onmessage = (event) => onMessage(event.data);
  },
  post: (message) => postMessage(message),
  isolated: self.crossOriginIsolated === true,
  startEngine,
  readModel: loadModel,
});
