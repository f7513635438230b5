// The built site (dist/, `npm run build`) deployed as a user would: under a sub-path (/deploy/surligne/) of a
// static host, once behind Python's http.server (a plain static server: no COOP/COEP, no
// Service-Worker-Allowed, nothing of ours) and once behind tools/serve.mjs (COOP + COEP). Each time, in a fresh
// Chromium: the showcase sentence's two people are found, on one thread or two as the headers allow; every
// request stays under the sub-path (the URLs are relative); the service worker's scope is the sub-path; and
// with the network cut, a reload and a new text still work, with no request reaching the server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { SENTENCE, SITE, launch, pageRequests, startSite, waitForRun } from './harness.mjs';

const SUBPATH = '/deploy/surligne/';
const PEOPLE = ['PER:Gérald Darmanin', 'PER:Nicolas Sarkozy'];

let root;

before(() => {
  // a host's folder with the site under a sub-path
  root = mkdtempSync(path.join(tmpdir(), 'surligne-host-'));
  mkdirSync(path.join(root, 'deploy'));
  symlinkSync(SITE, path.join(root, 'deploy/surligne'));
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

// python3 -m http.server on a free port; its log (stderr) gives the requests.
async function startPythonServer(dir) {
  const child = spawn('python3', ['-u', '-m', 'http.server', '0', '--bind', '127.0.0.1', '--directory', dir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const requests = [];
  let log = '';
  child.stderr.on('data', (chunk) => {
    log += chunk;
    for (const m of String(chunk).matchAll(/"(?:GET|HEAD) (\S+) HTTP/g)) requests.push(m[1].split('?')[0]);
  });
  let out = '';
  let timer;
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/port (\d+)/);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`python3 -m http.server exited (${code}): ${log}`)));
    timer = setTimeout(() => reject(new Error(`python3 -m http.server did not start: ${out} ${log}`)), 10_000);
  }).finally(() => clearTimeout(timer));
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close: () => new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill();
    }),
  };
}

const HOSTS = [
  { name: 'a plain static server (python3 -m http.server, no headers)', start: startPythonServer, isolated: false },
  { name: 'tools/serve.mjs with COOP/COEP', start: (dir) => startSite({ root: dir }), isolated: true },
];

for (const host of HOSTS) {
  test(`under a sub-path of ${host.name}: highlights, then works offline`, async () => {
    const server = await host.start(root);
    const browser = await launch();
    try {
      const { page, context } = browser;
      const site = new URL(SUBPATH, server.url).href;
      await page.goto(`${site}?threads=2&text=${encodeURIComponent(SENTENCE)}`);
      assert.equal(await waitForRun(page), 'done');
      const marks = () => page.$$eval('#output mark', (ms) => ms.map((m) => `${m.dataset.label}:${m.textContent}`));
      const first = await marks(page);
      for (const p of PEOPLE) assert.ok(first.includes(p), `${p} not in ${first}`);
      const info = await page.evaluate(() => window.surligne.ner.info);
      assert.deepEqual([info.crossOriginIsolated, info.threads, info.build],
        host.isolated ? [true, 2, 'surligne-mt'] : [false, 1, 'surligne']);
      // the service worker, at the site's root, controls the sub-path
      const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
      assert.equal(scope, site);
      await page.waitForFunction(async () => (await (await caches.open('surligne-shell-v1')).keys()).length >= 10,
        null, { polling: 100, timeout: 30_000 });
      const outside = server.requests.filter((r) => !r.startsWith(SUBPATH));
      assert.deepEqual(outside, [], 'every request stays under the sub-path');
      assert.ok(server.requests.some((r) => r.endsWith('.gguf')), 'the model came from the host');

      // the log of a server in another process comes a little later: wait until it has been quiet for 0.5 s
      for (let n = -1, quiet = 0; quiet < 5; quiet = server.requests.length === n ? quiet + 1 : 0) {
        n = server.requests.length;
        await new Promise((r) => setTimeout(r, 100));
      }
      const seen = server.requests.length;
      await context.setOffline(true);
      try {
        await page.reload();
        assert.equal(await waitForRun(page), 'done');
        assert.deepEqual(await marks(page), first);
        const text = 'Emmanuel Macron a rencontré Angela Merkel à Berlin.';
        await page.goto(`${site}index.html?threads=2&text=${encodeURIComponent(text)}`);
        assert.equal(await waitForRun(page), 'done');
        assert.equal(await page.textContent('#output'), text);
        assert.ok((await marks(page)).length >= 2);
        assert.equal((await page.evaluate(() => window.surligne.ner.info)).source, 'indexeddb');
      } finally {
        await context.setOffline(false);
      }
      assert.deepEqual(pageRequests(server.requests.slice(seen)), [], 'no request of the page reached the host offline');
      assert.deepEqual(browser.errors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  });
}
