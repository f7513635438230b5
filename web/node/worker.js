// node/worker.js — the worker thread (node:worker_threads) that holds the WebAssembly engine for Node's
// Surligne (node/surligne.js): engine.js does the work, as in the browser's worker.js; this file starts
// Node's CommonJS build of the engine (wasm/node/surligne*.cjs) with the shared .wasm bytes (wasm/), and reads
// the model from a file (file: URL) or downloads it (store.js, without IndexedDB).
import { webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parentPort } from 'node:worker_threads';

import { serveEngine } from '../engine.js';
import { ModelError, loadModel, verifyModel } from '../store.js';

globalThis.crypto ??= webcrypto; // store.js hashes with crypto.subtle, a global from Node 19 on

const require = createRequire(import.meta.url);
const WASM = new URL('../../wasm/', import.meta.url);

async function startEngine(build, options, wasmBase) {
  const dir = wasmBase ? new URL(wasmBase) : WASM;
  if (dir.protocol !== 'file:') throw new Error(`wasmBase must be a folder on this machine under Node, not ${dir.href}`);
  const create = require(fileURLToPath(new URL(`node/${build}.cjs`, dir)));
  return create({ ...options, wasmBinary: await readFile(new URL(`${build}.wasm`, dir)) });
}

async function readModel(url, { sha256, expectedBytes, onProgress }) {
  if (!url.startsWith('file:')) return loadModel(url, { sha256, expectedBytes, onProgress, keep: false });
  let data;
  try {
    data = await readFile(new URL(url));
  } catch (err) {
    throw new ModelError('file', `cannot read the model ${fileURLToPath(url)}: ${err.message}`);
  }
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.length);
  const actual = await verifyModel(url, bytes, sha256, onProgress);
  return { bytes, source: 'file', sha256: actual, stored: false, storeError: null };
}

serveEngine({
  listen: (onMessage) => parentPort.on('message', onMessage),
  post: (message) => parentPort.postMessage(message),
  isolated: true,
  startEngine,
  readModel,
});
