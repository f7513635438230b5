// offscreen.js — the offscreen document (reason WORKERS) that holds the engine: the same Surligne JS API,
// Web Worker and WebAssembly build as the page (web/surligne.js, web/worker.js, wasm/surligne.mjs); one
// model at a time. It only has chrome.runtime: the background sends it the model to use with every message.
//
//   { to: 'offscreen', type: 'model', model: { url, sha256, bytes } }  -> { entityTypes, labels, info }
//   { to: 'offscreen', type: 'recognize', model, texts, aggregation }  -> { results: [[entity…]…] }
//   (either -> { error, code } on failure)
//
// The default model's URL is a file of the extension's package (chrome-extension://…/weights/…); a model
// added on the options page is read from the extension's IndexedDB. Either way no request leaves the machine.
import { Surligne } from './web/surligne.js';

let current = null; // { key, ready: Promise<Surligne> }

function engineFor(model) {
  const key = `${model.url}#${model.sha256 || ''}`;
  if (current?.key !== key) {
    current?.ready.then((ner) => ner.dispose(), () => {});
    // not cross-origin isolated: the single-thread SIMD build
    const ready = Surligne.load(model.url, { sha256: model.sha256 || undefined, expectedBytes: model.bytes, threads: 1 });
    current = { key, ready };
    ready.catch(() => {
      if (current?.key === key) current = null; // a failed load is tried again next time
    });
  }
  return current.ready;
}

const handlers = {
  async model({ model }) {
    const ner = await engineFor(model);
    return { entityTypes: ner.entityTypes, labels: ner.labels, info: ner.info };
  },
  async recognize({ model, texts, aggregation }) {
    const ner = await engineFor(model);
    // queued in the worker one after the other; the worker never idles between two blocks
    const results = await Promise.all(texts.map((t) => ner.recognize(t, { aggregation })));
    return { results: results.map((list) => list.map(({ label, score, start, end, value }) => ({ label, score, start, end, value }))) };
  },
};

chrome.runtime.onMessage.addListener((msg, _sender, sendResponse) => {
  if (msg?.to !== 'offscreen' || !handlers[msg.type]) return false;
  handlers[msg.type](msg).then(sendResponse, (err) => sendResponse({ error: err.message, code: err.code || 'error' }));
  return true;
});
