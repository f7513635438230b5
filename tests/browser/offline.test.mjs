// Offline use: the first visit downloads the model (with progress) and keeps it in IndexedDB, the service
// worker keeps the app shell and the engine; later visits read the model from IndexedDB (the server never
// sees a request for the .gguf), and a reload with the network cut still highlights. A corrupt stored copy
// is detected by its hash and downloaded again.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DEFAULT, SENTENCE, pageRequests, siteAndBrowser, waitForRun } from './harness.mjs';

const ggufRequests = (requests) => requests.filter((r) => r.endsWith('.gguf'));

const fx = siteAndBrowser();

const markTexts = (page) => page.$$eval('#output mark', (ms) => ms.map((m) => `${m.dataset.label}:${m.textContent}`));

test('first visit: the model is downloaded with progress, verified and stored', async () => {
  const { page } = fx.browser;
  // the status line while downloading (sampled by the page itself, so no progress report is missed)
  await page.addInitScript(() => {
    window.__statusSeen = [];
    new MutationObserver(() => {
      const t = document.querySelector('#status-text')?.textContent;
      if (t && window.__statusSeen.at(-1) !== t) window.__statusSeen.push(t);
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  await page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(SENTENCE)}`);
  assert.equal(await waitForRun(page), 'done');
  assert.equal(ggufRequests(fx.site.requests).length, 1);
  const info = await page.evaluate(() => window.surligne.ner.info);
  assert.equal(info.source, 'network');
  assert.equal(info.stored, true);
  assert.equal(info.sha256, DEFAULT.sha256);
  assert.equal(info.bytes, DEFAULT.bytes);
  const seen = await page.evaluate(() => window.__statusSeen);
  assert.ok(seen.some((s) => /Téléchargement du modèle… \d+ %/.test(s)), `no download progress in ${JSON.stringify(seen)}`);
  assert.ok(seen.some((s) => /100 %/.test(s)), `no 100 % in ${JSON.stringify(seen)}`);
  const stored = await page.evaluate(async () => (await import('./web/store.js')).listModels());
  assert.equal(stored.length, 1);
  assert.equal(stored[0].sha256, DEFAULT.sha256);
  assert.equal(stored[0].bytes, DEFAULT.bytes);
  // the service worker is installed and holds the shell before the network is cut
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(async () => {
    const cache = await caches.open('surligne-shell-v1');
    return (await cache.keys()).length >= 10;
  }, null, { polling: 100, timeout: 30_000 });
});

test('a reload reads the model from IndexedDB: no request for the .gguf', async () => {
  const { page } = fx.browser;
  const before = fx.site.requests.length;
  await page.reload();
  assert.equal(await waitForRun(page), 'done');
  const requests = fx.site.requests.slice(before);
  assert.deepEqual(ggufRequests(requests), [], `requests: ${requests.join(' ')}`);
  const info = await page.evaluate(() => window.surligne.ner.info);
  assert.equal(info.source, 'indexeddb');
  assert.match(await page.textContent('#status'), /lu sur cet appareil/);
  assert.ok((await markTexts(page)).length >= 2);
});

test('with the network cut, a reload still highlights (service worker + IndexedDB)', async () => {
  const { page, context } = fx.browser;
  const want = await markTexts(page);
  const before = fx.site.requests.length;
  await context.setOffline(true);
  try {
    await page.reload();
    assert.equal(await waitForRun(page), 'done');
    assert.deepEqual(await markTexts(page), want);
    assert.deepEqual(pageRequests(fx.site.requests.slice(before)), [], 'the server was reached');
    assert.equal(await page.evaluate(() => navigator.onLine), false);
    assert.equal(await page.evaluate(() => Boolean(navigator.serviceWorker.controller)), true);
    // a new text, offline
    const text = 'Emmanuel Macron a rencontré Angela Merkel à Berlin.';
    await page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(text)}`);
    assert.equal(await waitForRun(page), 'done');
    assert.equal(await page.textContent('#output'), text);
    assert.ok(await page.isHidden('#error'));
  } finally {
    await context.setOffline(false);
  }
});

test('a corrupt stored copy is detected by its hash and downloaded again', async () => {
  const { page } = fx.browser;
  await page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(SENTENCE)}`);
  assert.equal(await waitForRun(page), 'done');
  // truncate the stored bytes behind the store's back
  await page.evaluate(() => new Promise((resolve, reject) => {
    const open = indexedDB.open('surligne-models');
    open.onsuccess = () => {
      const tx = open.result.transaction('data', 'readwrite');
      const data = tx.objectStore('data');
      data.openCursor().onsuccess = (e) => {
        const cursor = e.target.result;
        if (!cursor) return;
        cursor.update({ ...cursor.value, data: cursor.value.data.slice(0, 1000000) });
        cursor.continue();
      };
      tx.oncomplete = () => {
        open.result.close();
        resolve();
      };
      tx.onerror = () => reject(tx.error);
    };
    open.onerror = () => reject(open.error);
  }));
  const before = fx.site.requests.length;
  await page.reload();
  assert.equal(await waitForRun(page), 'done');
  assert.equal(ggufRequests(fx.site.requests.slice(before)).length, 1, 'downloaded again');
  const info = await page.evaluate(() => window.surligne.ner.info);
  assert.deepEqual([info.source, info.stored, info.sha256], ['network', true, DEFAULT.sha256]);
  // and the fresh copy serves the next visit
  const next = fx.site.requests.length;
  await page.reload();
  assert.equal(await waitForRun(page), 'done');
  assert.deepEqual(ggufRequests(fx.site.requests.slice(next)), []);
});

test('stored models can be listed and deleted', async () => {
  const { page } = fx.browser;
  const result = await page.evaluate(async () => {
    const store = await import('./web/store.js');
    const before = await store.listModels();
    const deleted = await store.deleteModel(before[0].url);
    return { before: before.length, deleted, after: (await store.listModels()).length };
  });
  assert.deepEqual(result, { before: 1, deleted: 1, after: 0 });
});
