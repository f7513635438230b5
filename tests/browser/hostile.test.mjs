// Hostile model sources for the page (issue 16, part 4), in real Chromium: once the published model works and
// is kept on this device, a model URL answering garbage with status 200, a download cut halfway (Content-Length
// of the whole file, then the connection closed), a stored copy damaged behind the store's back, and an
// IndexedDB that refuses to store (QuotaExceededError, thrown by IDBObjectStore.put in the engine's worker), and
// a stored copy whose hash is right but that the engine cannot read (what a store that did not ask the engine
// could keep). Each time: the page says what went wrong in its status line and error box, nothing stored before is lost,
// and the showcase sentence's two people are still highlighted, by the model that worked before.
// The hostile URLs are served by a second server here (another origin, with CORS and CORP headers).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { DEFAULT, DEFAULT_MB, ROOT, SENTENCE, siteAndBrowser, waitForRun } from './harness.mjs';

const PUBLISHED = readFileSync(path.join(ROOT, 'weights', DEFAULT.file));
const PEOPLE = ['PER:Gérald Darmanin', 'PER:Nicolas Sarkozy'];
const GARBAGE = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24));

const fx = siteAndBrowser();
let hostile; // { url, requests, close }
let versioned = PUBLISHED; // what /versioned.gguf answers

before(async () => {
  const requests = [];
  const server = createServer((req, res) => {
    requests.push(req.url);
    const headers = { 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin',
      'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' };
    if (req.url === '/garbage.gguf') {
      res.writeHead(200, { ...headers, 'Content-Length': GARBAGE.length }).end(GARBAGE);
    } else if (req.url === '/truncated.gguf') {
      // the whole file announced, half of it sent, then the connection cut
      res.writeHead(200, { ...headers, 'Content-Length': PUBLISHED.length });
      res.write(PUBLISHED.subarray(0, PUBLISHED.length >> 1), () => setTimeout(() => res.destroy(), 100));
    } else if (req.url === '/half.gguf') {
      res.writeHead(200, { ...headers, 'Content-Length': PUBLISHED.length >> 1 }).end(PUBLISHED.subarray(0, PUBLISHED.length >> 1));
    } else if (req.url === '/legacy.gguf') {
      res.writeHead(200, { ...headers, 'Content-Length': PUBLISHED.length }).end(PUBLISHED);
    } else if (req.url === '/versioned.gguf') {
      res.writeHead(200, { ...headers, 'Content-Length': versioned.length }).end(versioned);
    } else {
      res.writeHead(404, headers).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  hostile = { url: `http://127.0.0.1:${server.address().port}/`, requests, close: () => new Promise((r) => {
    server.closeAllConnections();
    server.close(r);
  }) };
});

after(() => hostile?.close());

const markTexts = (page) => page.$$eval('#output mark', (ms) => ms.map((m) => `${m.dataset.label}:${m.textContent}`));
const stored = (page) => page.evaluate(async () => (await import('./web/store.js')).listModels())
  .then((list) => list.map((m) => `${m.url.split('/').pop()}#${m.sha256}`).sort());
const open = (query = '') => fx.browser.page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(SENTENCE)}${query}`);

// The page after a failed model: the error box and the status line say so, the people are highlighted by the
// published model (the one that worked before), and the store holds what it held.
async function assertFellBack(page, { code, detail, storedBefore }) {
  assert.equal(await waitForRun(page), 'done');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'fallback');
  assert.equal(await page.textContent('#status-text'), 'Modèle précédent utilisé');
  assert.ok(await page.isVisible('#error'));
  assert.equal(await page.getAttribute('#error', 'data-code'), code);
  const error = await page.textContent('#error');
  assert.match(error, detail);
  assert.match(error, new RegExp(`${DEFAULT.name}, sert à sa place`));
  assert.deepEqual((await markTexts(page)).filter((m) => m.startsWith('PER:')), PEOPLE);
  const info = await page.evaluate(() => window.surligne.ner.info);
  assert.deepEqual([info.sha256, info.source], [DEFAULT.sha256, 'indexeddb']);
  assert.deepEqual(await stored(page), storedBefore);
  return error;
}

test('the published model works and is kept (the model the later tests fall back to)', async () => {
  const { page } = fx.browser;
  await open();
  assert.equal(await waitForRun(page), 'done');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
  assert.deepEqual((await markTexts(page)).filter((m) => m.startsWith('PER:')), PEOPLE);
  assert.deepEqual(await stored(page), [`${DEFAULT.file}#${DEFAULT.sha256}`]);
});

test('a model URL answering garbage (status 200): refused as not a GGUF file, never stored', async () => {
  const { page } = fx.browser;
  await open(`&model=${encodeURIComponent(`${hostile.url}garbage.gguf`)}`);
  const error = await assertFellBack(page, { code: 'model', detail: /garbage\.gguf is not a GGUF model file/,
    storedBefore: [`${DEFAULT.file}#${DEFAULT.sha256}`] });
  assert.match(error, /Le fichier du modèle est invalide/);
  assert.ok(hostile.requests.includes('/garbage.gguf'));
});

test('a download cut halfway (Content-Length of the whole file): refused as truncated, never stored', async () => {
  const { page } = fx.browser;
  await open(`&model=${encodeURIComponent(`${hostile.url}truncated.gguf`)}&sha256=${DEFAULT.sha256}`);
  const error = await assertFellBack(page, { code: 'truncated', detail: new RegExp(`truncated\\.gguf (broke off|stopped) after [\\d.]+ MB of ${DEFAULT_MB}`),
    storedBefore: [`${DEFAULT.file}#${DEFAULT.sha256}`] });
  assert.match(error, /interrompu/);
});

test('a stored copy damaged behind the store\'s back: detected on load, downloaded again, said so', async () => {
  const { page } = fx.browser;
  // garbage of the same length in place of the stored bytes (the size matches: only the hash can tell)
  await page.evaluate(() => new Promise((resolve, reject) => {
    const req = indexedDB.open('surligne-models');
    req.onsuccess = () => {
      const tx = req.result.transaction('data', 'readwrite');
      tx.objectStore('data').openCursor().onsuccess = (e) => {
        const cursor = e.target.result;
        if (!cursor) return;
        const junk = new Uint8Array(cursor.value.data.byteLength);
        for (let i = 0; i < junk.length; i += 4096) junk[i] = i & 0xff;
        cursor.update({ ...cursor.value, data: junk.buffer });
        cursor.continue();
      };
      tx.oncomplete = () => {
        req.result.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
    req.onerror = () => reject(req.error);
  }));
  const before = fx.site.requests.length;
  await open();
  assert.equal(await waitForRun(page), 'done');
  assert.equal(fx.site.requests.slice(before).filter((r) => r.endsWith('.gguf')).length, 1, 'downloaded again');
  assert.equal(await page.getAttribute('#error', 'data-code'), 'repaired');
  const error = await page.textContent('#error');
  assert.match(error, /abîmée/);
  assert.match(error, new RegExp(`its sha256 is [0-9a-f]{64}, not ${DEFAULT.sha256}`));
  assert.deepEqual((await markTexts(page)).filter((m) => m.startsWith('PER:')), PEOPLE);
  assert.deepEqual(await stored(page), [`${DEFAULT.file}#${DEFAULT.sha256}`]); // the good copy is back
  const info = await page.evaluate(() => window.surligne.ner.info);
  assert.deepEqual([info.source, info.stored, info.sha256], ['network', true, DEFAULT.sha256]);
});

test('IndexedDB full (QuotaExceededError): the new model is used but not kept, and no older copy is lost', async () => {
  const { page } = fx.browser;
  // a model at a URL of its own, kept
  versioned = PUBLISHED;
  await open(`&model=${encodeURIComponent(`${hostile.url}versioned.gguf`)}`);
  assert.equal(await waitForRun(page), 'done');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
  const both = [`${DEFAULT.file}#${DEFAULT.sha256}`, `versioned.gguf#${DEFAULT.sha256}`].sort();
  assert.deepEqual(await stored(page), both);
  // a new version at that URL, while IndexedDB refuses every put: storing it would replace the older copy
  const next = Buffer.from(PUBLISHED); // the last byte (alignment padding) changed: another file, another sha256
  next[next.length - 1] ^= 1;
  versioned = next;
  const sha = createHash('sha256').update(next).digest('hex');
  // the engine's worker started from a module that breaks IndexedDB's put, then runs web/worker.js (pages
  // opened with ?quota=full only; the service worker keeps the script out of reach of a route)
  await page.addInitScript(() => {
    if (new URLSearchParams(location.search).get('quota') !== 'full') return;
    const Real = window.Worker;
    window.Worker = class extends Real {
      constructor(url, options) {
        const href = new URL(url, location.href).href;
        if (!href.endsWith('/web/worker.js')) {
          super(url, options);
          return;
        }
        const source = `import ${JSON.stringify(href)};
IDBObjectStore.prototype.put = function put() {
  throw new DOMException('the quota of this origin is exceeded (simulated)', 'QuotaExceededError');
};`;
        super(URL.createObjectURL(new Blob([source], { type: 'text/javascript' })), options);
      }
    };
  });
  await open(`&model=${encodeURIComponent(`${hostile.url}versioned.gguf`)}&sha256=${sha}&quota=full`);
  assert.equal(await waitForRun(page), 'done');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
  const info = await page.evaluate(() => window.surligne.ner.info);
  assert.deepEqual([info.sha256, info.source, info.stored], [sha, 'network', false]);
  assert.equal(await page.getAttribute('#error', 'data-code'), 'store');
  const error = await page.textContent('#error');
  assert.match(error, /n’a pas été gardé/);
  assert.match(error, /storage quota of this site is full/);
  assert.deepEqual((await markTexts(page)).filter((m) => m.startsWith('PER:')), PEOPLE);
  assert.deepEqual(await stored(page), both, 'the older copy of versioned.gguf was deleted');
  // and the published model is still read from this device, with no request
  const before = fx.site.requests.length;
  await open();
  assert.equal(await waitForRun(page), 'done');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
  assert.deepEqual(fx.site.requests.slice(before).filter((r) => r.endsWith('.gguf')), []);
  assert.deepEqual((await markTexts(page)).filter((m) => m.startsWith('PER:')), PEOPLE);
  assert.deepEqual(fx.browser.errors.filter((e) => !/Failed to load resource/.test(e)), []);
});

test('a stored copy whose hash is right but that the engine cannot read: deleted, downloaded again, said so', async () => {
  const { page } = fx.browser;
  // what an older store kept without asking the engine: the first half of a model, under its own sha256
  const url = `${hostile.url}legacy.gguf`;
  const half = PUBLISHED.subarray(0, PUBLISHED.length >> 1);
  const halfSha = createHash('sha256').update(half).digest('hex');
  await page.evaluate(async ([u, h, from]) => {
    const data = await (await fetch(from)).arrayBuffer();
    await new Promise((resolve, reject) => {
      const req = indexedDB.open('surligne-models');
      req.onsuccess = () => {
        const tx = req.result.transaction(['meta', 'data'], 'readwrite');
        const key = `${u}#sha256=${h}`;
        tx.objectStore('data').put({ key, data });
        tx.objectStore('meta').put({ key, url: u, sha256: h, bytes: data.byteLength, storedAt: Date.now() });
        tx.oncomplete = () => {
          req.result.close();
          resolve();
        };
        tx.onerror = () => reject(tx.error);
      };
      req.onerror = () => reject(req.error);
    });
  }, [url, halfSha, `${hostile.url}half.gguf`]);
  assert.ok((await stored(page)).includes(`legacy.gguf#${halfSha}`));
  const before = hostile.requests.length;
  await open(`&model=${encodeURIComponent(url)}`);
  assert.equal(await waitForRun(page), 'done');
  assert.deepEqual(hostile.requests.slice(before), ['/legacy.gguf'], 'downloaded again');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'ready');
  assert.equal(await page.getAttribute('#error', 'data-code'), 'repaired');
  assert.match(await page.textContent('#error'),
    /legacy\.gguf kept on this device is not a model the engine reads \(.*runs past the end of the file.*\): it was deleted/);
  assert.deepEqual((await markTexts(page)).filter((m) => m.startsWith('PER:')), PEOPLE);
  const list = await stored(page);
  assert.ok(list.includes(`legacy.gguf#${DEFAULT.sha256}`) && !list.includes(`legacy.gguf#${halfSha}`), list.join(' '));
});
