// sw.js — the service worker of the page. `npm run build` puts it at the site's root (dist/sw.js), beside
// index.html, so its default scope is the whole site, also under a sub-path, with no special header; app.js
// registers it. It keeps the app shell and the WebAssembly engine in the
// Cache Storage so the page opens with no network after the first visit. Network first, cache as the
// fallback: an online visit always gets fresh files. Model files (.gguf) are left alone: they live in
// IndexedDB (store.js), handled by the page's worker.
const CACHE = 'surligne-shell-v1';
const SHELL = [
  './',
  'index.html',
  'web/style.css',
  'web/app.js',
  'web/surligne.js',
  'web/worker.js',
  'web/store.js',
  'web/highlight.js',
  'web/engine.js',
  'weights/models.json',
  'wasm/surligne.mjs',
  'wasm/surligne.wasm',
  'wasm/surligne-mt.mjs',
  'wasm/surligne-mt.wasm',
  'wasm/surligne-mt.worker.js',
];

self.addEventListener('install', (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    // one by one: a file missing from this deployment (say, no pthreads build) does not stop the others
    await Promise.all(SHELL.map(async (path) => {
      const url = new URL(path, self.registration.scope);
      try {
        const res = await fetch(url, { cache: 'no-cache' });
        if (res.ok) await cache.put(url, res);
      } catch {
        // offline during install: the files will be cached as they are fetched
      }
    }));
    await self.skipWaiting();
  })());
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin || url.pathname.endsWith('.gguf')) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const res = await fetch(req);
      // a page is kept once, whatever its query (?text=…)
      const key = req.mode === 'navigate' ? `${url.origin}${url.pathname}` : req;
      if (res.ok && res.type === 'basic') await cache.put(key, res.clone());
      return res;
    } catch (err) {
      const hit = await cache.match(req, { ignoreSearch: req.mode === 'navigate' });
      if (hit) return hit;
      throw err;
    }
  })());
});
