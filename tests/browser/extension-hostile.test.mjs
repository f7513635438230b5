// Hostile model URLs on the browser extension's options page (issue 16, part 4), in real Chromium with the
// extension loaded unpacked (as extension.test.mjs does): a URL answering garbage with status 200, a download
// cut halfway (the whole file's Content-Length, then the connection closed), and a file that passes the checks
// of the download (the sha256 given is its own, it starts with the GGUF magic) but that the engine cannot read
// (the published model's first half, sent whole). Each time: the options page says what went wrong, the model
// in use stays the bundled one and still finds both people of the showcase sentence, nothing new is stored.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { buildExtension } from '../../tools/build-extension.mjs';
import { CHROMIUM, DEFAULT, DEFAULT_MB, ROOT, SENTENCE } from './harness.mjs';

const PUBLISHED = readFileSync(path.join(ROOT, 'weights', DEFAULT.file));
const HALF = PUBLISHED.subarray(0, PUBLISHED.length >> 1);
const GARBAGE = Buffer.from(Array.from({ length: 1 << 20 }, (_, i) => (i * 2654435761) >>> 24));
const sha = (b) => createHash('sha256').update(b).digest('hex');

let server;
let hostile;
let context;
let profile;
let options; // the options page

before(async () => {
  const built = buildExtension();
  server = createServer((req, res) => {
    const headers = { 'Access-Control-Allow-Origin': '*', 'Content-Type': 'application/octet-stream', 'Cache-Control': 'no-store' };
    if (req.url === '/garbage.gguf') res.writeHead(200, { ...headers, 'Content-Length': GARBAGE.length }).end(GARBAGE);
    else if (req.url === '/half.gguf') res.writeHead(200, { ...headers, 'Content-Length': HALF.length }).end(HALF);
    else if (req.url === '/truncated.gguf') {
      res.writeHead(200, { ...headers, 'Content-Length': PUBLISHED.length });
      res.write(HALF, () => setTimeout(() => res.destroy(), 100));
    } else res.writeHead(404, headers).end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  hostile = `http://127.0.0.1:${server.address().port}/`;
  profile = mkdtempSync(path.join(tmpdir(), 'surligne-extension-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    ignoreDefaultArgs: ['--disable-extensions'],
    args: [
      '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      `--disable-extensions-except=${built.dir}`, `--load-extension=${built.dir}`,
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const worker = context.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://')) ??
    await context.waitForEvent('serviceworker', { timeout: 30_000 });
  options = await context.newPage();
  await options.goto(`chrome-extension://${new URL(worker.url()).host}/options.html`);
  await options.waitForSelector('body[data-ready="true"]', { timeout: 60_000 });
});

after(async () => {
  await context?.close().catch(() => {});
  if (profile) rmSync(profile, { recursive: true, force: true });
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
});

// The model in use finds both people of the showcase sentence (through the background and the offscreen engine).
async function assertBundledInUse() {
  const state = await options.evaluate(async (text) => {
    const { settings } = await chrome.storage.local.get('settings');
    const answer = await chrome.runtime.sendMessage({ to: 'background', type: 'recognize', texts: [text] });
    const { listModels } = await import('./web/store.js');
    return { model: settings?.model ?? null, answer, stored: (await listModels()).map((m) => m.url.split('/').pop()) };
  }, SENTENCE);
  assert.equal(state.model, null, 'the model in use changed');
  assert.ok(!state.answer.error, state.answer.error);
  const people = state.answer.results[0].filter((e) => e.label === 'PER').map((e) => SENTENCE.slice(e.start, e.end));
  assert.deepEqual(people, ['Gérald Darmanin', 'Nicolas Sarkozy']);
  assert.deepEqual(state.stored.filter((f) => f !== DEFAULT.file), [], 'a hostile model was stored');
  assert.match(await options.textContent('#model-info'), /^Étiquettes du modèle : (\w+, )*PER,/);
}

async function add(url, sha256) {
  await options.evaluate(() => {
    document.getElementById('add').open = true;
    document.getElementById('add-status').textContent = ''; // the previous attempt's answer
  });
  await options.fill('#add-url', url);
  await options.fill('#add-sha', sha256);
  await options.click('#add-button');
  await options.waitForFunction(() => /^(Échec|Ajouté)/.test(document.getElementById('add-status').textContent), null,
    { timeout: 60_000, polling: 50 });
  return options.textContent('#add-status');
}

test('the bundled model is in use and finds the showcase sentence\'s people', assertBundledInUse);

test('a URL answering garbage: refused by its sha256, or as not a GGUF file; the bundled model stays', async () => {
  assert.match(await add(`${hostile}garbage.gguf`, DEFAULT.sha256), /^Échec : .*garbage\.gguf is not the expected file: its sha256 is/);
  await assertBundledInUse();
  assert.match(await add(`${hostile}garbage.gguf`, sha(GARBAGE)), /^Échec : .*garbage\.gguf is not a GGUF model file/);
  await assertBundledInUse();
});

test('a download cut halfway: refused as interrupted; the bundled model stays', async () => {
  assert.match(await add(`${hostile}truncated.gguf`, DEFAULT.sha256),
    new RegExp(`^Échec : the download of .*truncated\\.gguf (broke off|stopped) after [\\d.]+ MB of ${DEFAULT_MB}`));
  await assertBundledInUse();
});

test('a file the engine cannot read (its own sha256, the GGUF magic): not kept, the bundled model stays', async () => {
  assert.match(await add(`${hostile}half.gguf`, sha(HALF)),
    /^Échec : the engine cannot read this model, the previous one is kept: .*runs past the end of the file/);
  await assertBundledInUse();
  assert.doesNotMatch(await options.textContent('#models'), /half\.gguf/);
});
