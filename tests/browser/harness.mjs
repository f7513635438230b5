// The browser tests' harness: the built site (dist/, tools/build-site.mjs) served by tools/serve.mjs on a
// free loopback port with every request recorded, and Debian's Chromium (/usr/bin/chromium, or
// $SURLIGNE_CHROMIUM) driven by playwright-core, in a persistent context with a fresh profile (so IndexedDB,
// the Cache Storage and the service worker survive reloads inside a test, and nothing survives between
// runs). The browser is told to call nobody: background networking, component updates, sync and sign-in
// point at a dead local port.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';

import { chromium } from 'playwright-core';

import { ROOT, SITE, startServer } from '../../tools/serve.mjs';

export { ROOT, SITE };
export const ARTIFACTS = path.join(ROOT, 'build/artifacts');
export const CHROMIUM = process.env.SURLIGNE_CHROMIUM || '/usr/bin/chromium';
export const SENTENCE = 'Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.';
// The published models (weights/models.json) and the default one's entry; its size as the page and the
// extension write it (web/store.js: MB of 10^6 bytes, one decimal), escaped for a RegExp
export const MANIFEST = JSON.parse(readFileSync(path.join(ROOT, 'weights/models.json'), 'utf8'));
export const DEFAULT = MANIFEST.models.find((m) => m.name === MANIFEST.default);
export const DEFAULT_MB = `${(DEFAULT.bytes / 1e6).toFixed(1).replace('.', '\\.')} MB`;

// A port nobody listens on: taken, then released.
async function deadPort() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

// root: the folder served (default dist/); isolate: false leaves COOP/COEP out (one thread).
export async function startSite({ isolate = true, root = SITE } = {}) {
  const requests = [];
  const { server, url } = await startServer({ port: 0, root, isolate, onRequest: (r) => requests.push(r.path) });
  return {
    url,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(resolve);
    }),
  };
}

export async function launch({ offlineCapable = true } = {}) {
  const dead = `http://127.0.0.1:${await deadPort()}`;
  const profile = mkdtempSync(path.join(tmpdir(), 'surligne-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 820 },
    serviceWorkers: offlineCapable ? 'allow' : 'block',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      `--gaia-url=${dead}`, `--component-updater=url-source=${dead}`,
    ],
  });
  const page = context.pages()[0] ?? await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  return {
    context,
    page,
    errors,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// The before/after hooks of a test file that uses one site and one browser for all its tests: returns
// { site, browser }, filled in before the first test (startSite, launch) and closed after the last.
export function siteAndBrowser() {
  const fixture = { site: null, browser: null };
  before(async () => {
    fixture.site = await startSite();
    fixture.browser = await launch();
  });
  after(async () => {
    await fixture.browser?.close();
    await fixture.site?.close();
  });
  return fixture;
}

// Requests but the service worker's update checks: Chromium fetches sw.js after a navigation the worker
// controls, from the browser process, past Playwright's offline switch (a browser really offline fails that
// check and goes on), so a test of what the page asks for while offline leaves them out.
export const pageRequests = (requests) => requests.filter((r) => !r.endsWith('/sw.js'));

// Waits until #output has finished a run (data-state done) or failed (error); returns the state.
export async function waitForRun(page, timeout = 120_000) {
  const handle = await page.waitForFunction(() => {
    const s = document.querySelector('#output')?.dataset.state;
    return (s === 'done' || s === 'error') && s;
  }, null, { timeout, polling: 50 });
  return handle.jsonValue();
}

export function artifactPath(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return path.join(ARTIFACTS, name);
}
