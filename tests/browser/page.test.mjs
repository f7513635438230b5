// The highlighting page in real Chromium: entities drawn as marks, offsets exact (against the engine's own
// byte offsets), the JS API's queue and cancellation, both wasm builds, and clear errors for a wrong
// sha256 or a missing model. Saves a screenshot to build/artifacts/page.png.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { loadEngine } from '../wasm/engine.mjs';
import { DEFAULT, DEFAULT_MB, ROOT, SENTENCE, artifactPath, launch, siteAndBrowser, startSite, waitForRun } from './harness.mjs';

const MODEL_PATH = path.join(ROOT, 'weights', DEFAULT.file);

// Accents precomposed and combining, emoji outside the BMP (surrogate pairs), a flag, a ZWJ family,
// no-break spaces, an apostrophe U+2019: every kind of gap between UTF-8 bytes and UTF-16 units.
const TRICKY = '🎉 Emmanuel Macron 🇫🇷 a félicité Kylian Mbappé 👨‍👩‍👧 au Parc des Princes 👍. ' +
  'Le cœur de Me\u0301lanie est à Saint-\u00c9tienne ; l\u2019équipe de Gérald Darmanin 😀 reçoit ' +
  'Nicolas Sarkozy à Besançon.\u00a0«\u00a0Marseille\u00a0» et Ségolène Royal 🏳️‍🌈 sont à Lyon.';

const fx = siteAndBrowser();

// The marks of #output as {label, score, text, start, end}.
const marks = (page) => page.$$eval('#output mark', (ms) => ms.map((m) => ({
  label: m.dataset.label, score: Number(m.dataset.score), text: m.textContent,
  start: Number(m.dataset.start), end: Number(m.dataset.end),
})));

test('the page highlights the entities of a French sentence', async () => {
  const { page } = fx.browser;
  await page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(SENTENCE)}`);
  assert.equal(await waitForRun(page), 'done');
  const got = await marks(page);
  assert.ok(got.length >= 2, `only ${got.length} marks: ${JSON.stringify(got)}`);
  const types = await page.evaluate(() => window.surligne.ner.entityTypes);
  for (const m of got) {
    assert.ok(types.includes(m.label), `label ${m.label} is not one of the model's (${types})`);
    assert.ok(m.score > 0 && m.score <= 1, `score ${m.score}`);
    assert.equal(m.text, SENTENCE.slice(m.start, m.end));
  }
  assert.ok(got.some((m) => m.label === 'PER' && m.text.includes('Sarkozy')), `no PER for Sarkozy: ${JSON.stringify(got)}`);
  assert.equal(await page.inputValue('#input'), SENTENCE);
  // the legend and the status say what is loaded: the model's types, then the rule recogniser's
  const legend = await page.$$eval('#legend .legend-item', (xs) => xs.map((x) => x.dataset.label));
  assert.deepEqual(legend.slice(0, DEFAULT.labels.length).sort(), [...DEFAULT.labels].sort());
  assert.deepEqual(legend.slice(DEFAULT.labels.length), ['DATE', 'TIME', 'MONEY', 'PERCENT']);
  const status = await page.textContent('#status');
  assert.match(status, new RegExp(DEFAULT_MB));
  assert.match(status, /SIMD/);
  assert.equal(await page.isHidden('#error'), true);
  // the marks are what the JS API returns
  const api = await page.evaluate((t) => window.surligne.ner.recognize(t), SENTENCE);
  assert.deepEqual(got.map((m) => [m.label, m.start, m.end, m.text]), api.map((e) => [e.label, e.start, e.end, e.text]));
  // a hover title with label and score
  assert.match(await page.getAttribute('#output mark', 'title'), /^[A-Z]+ · 0\.\d\d$|^[A-Z]+ · 1\.00$/);
  await page.screenshot({ path: artifactPath('page.png') });
  assert.deepEqual(fx.browser.errors, []);
});

test('offsets are exact with emoji, flags and combining accents (engine bytes -> UTF-16)', async () => {
  const { page } = fx.browser;
  // the engine's own byte offsets, from the same .wasm in Node, with the page's arithmetic: where the page
  // runs the relaxed-SIMD q8_0 kernel (7-bit activations), Node runs it in C (scalar-u7, the same bits)
  const kernel = await page.evaluate(() => window.surligne.ner.info.kernel);
  const engine = await loadEngine('', { kernel: kernel === 'wasm-relaxed' ? 'scalar-u7' : undefined });
  const model = engine.load(readFileSync(MODEL_PATH));
  const utf8 = Buffer.from(TRICKY, 'utf8');
  const native = {};
  for (const aggregation of ['first', 'none', 'max']) native[aggregation] = model.recognize(TRICKY, { aggregation });
  model.free();
  engine.terminate();

  for (const aggregation of ['first', 'none', 'max']) {
    const got = await page.evaluate(([t, a]) => window.surligne.ner.recognize(t, { aggregation: a }), [TRICKY, aggregation]);
    const want = native[aggregation];
    assert.ok(want.length >= 3, `${aggregation}: only ${want.length} entities`);
    assert.equal(got.length, want.length, aggregation);
    for (const [i, e] of got.entries()) {
      assert.equal(e.text, TRICKY.slice(e.start, e.end), `${aggregation} ${i}`);
      assert.equal(e.label, want[i].label);
      assert.ok(Math.abs(e.score - want[i].score) < 1e-6, `${aggregation} ${i}: score ${e.score}, Node ${want[i].score}`);
      // start/end are the UTF-16 images of the engine's byte offsets, exactly
      assert.equal(Buffer.byteLength(TRICKY.slice(0, e.start)), want[i].start, `${aggregation} ${i} start`);
      assert.equal(Buffer.byteLength(TRICKY.slice(0, e.end)), want[i].end, `${aggregation} ${i} end`);
      assert.equal(e.text, utf8.subarray(want[i].start, want[i].end).toString('utf8'));
    }
  }
  // and in the page: typed text, drawn marks
  await page.fill('#input', TRICKY);
  await page.waitForFunction((t) => document.querySelector('#output').dataset.state === 'done' &&
    document.querySelector('#output').textContent.length === t.length, TRICKY, { polling: 50 });
  const drawn = await marks(page);
  assert.equal(drawn.length, native.first.length);
  for (const m of drawn) assert.equal(m.text, TRICKY.slice(m.start, m.end));
  assert.equal(await page.textContent('#output'), TRICKY); // marks add no text
});

test('calls queue and can be cancelled; bad options are refused', async () => {
  const { page } = fx.browser;
  const outcome = await page.evaluate(async (text) => {
    const { ner } = window.surligne;
    const long = `${text} `.repeat(60);
    const a = new AbortController();
    const b = new AbortController();
    const settle = (p) => p.then((r) => `ok ${r.length}`, (e) => `${e.name}`);
    const p1 = settle(ner.recognize(long, { signal: a.signal })); // running
    const p2 = settle(ner.recognize(text, { signal: b.signal })); // queued
    const p3 = settle(ner.recognize(text));
    const queued = ner.pending;
    b.abort(); // dropped from the queue
    a.abort(); // running: its answer will be discarded
    const early = await Promise.race([p1, new Promise((r) => setTimeout(() => r('late'), 50))]);
    const pre = new AbortController();
    pre.abort();
    return {
      queued,
      early,
      results: await Promise.all([p1, p2, p3]),
      aborted: await settle(ner.recognize(text, { signal: pre.signal })),
      badAggregation: await ner.recognize(text, { aggregation: 'loudest' }).then(() => 'ok', (e) => e.message),
      after: await settle(ner.recognize(text)),
    };
  }, SENTENCE);
  assert.equal(outcome.queued, 3);
  assert.equal(outcome.early, 'AbortError', 'an aborted running call rejects at once');
  assert.equal(outcome.results[0], 'AbortError');
  assert.equal(outcome.results[1], 'AbortError');
  assert.match(outcome.results[2], /^ok [1-9]/);
  assert.equal(outcome.aborted, 'AbortError');
  assert.match(outcome.badAggregation, /aggregation/);
  assert.match(outcome.after, /^ok [1-9]/);
});

test('one thread (single-thread build) and several (pthreads build) give the same entities', async () => {
  const { page } = fx.browser;
  const results = {};
  for (const threads of [1, 2]) {
    await page.goto(`${fx.site.url}index.html?threads=${threads}&text=${encodeURIComponent(TRICKY)}`);
    assert.equal(await waitForRun(page), 'done');
    const info = await page.evaluate(() => window.surligne.ner.info);
    assert.equal(info.crossOriginIsolated, true);
    assert.equal(info.threads, threads);
    assert.equal(info.build, threads > 1 ? 'surligne-mt' : 'surligne');
    results[threads] = await marks(page);
  }
  assert.deepEqual(results[1].map((m) => [m.label, m.start, m.end]), results[2].map((m) => [m.label, m.start, m.end]));
});

test('without COOP/COEP the page still works, on one thread', async () => {
  const plain = await startSite({ isolate: false });
  const other = await launch();
  try {
    await other.page.goto(`${plain.url}index.html?text=${encodeURIComponent(SENTENCE)}`);
    assert.equal(await waitForRun(other.page), 'done');
    const info = await other.page.evaluate(() => window.surligne.ner.info);
    assert.deepEqual([info.crossOriginIsolated, info.threads, info.build], [false, 1, 'surligne']);
    assert.ok((await marks(other.page)).length >= 2);
  } finally {
    await other.close();
    await plain.close();
  }
});

test('a wrong sha256 is refused with a clear error, and nothing is stored', async () => {
  const other = await launch();
  try {
    const { page } = other;
    await page.goto(`${fx.site.url}index.html?sha256=${'0'.repeat(64)}`);
    assert.equal(await waitForRun(page), 'error');
    assert.equal(await page.isVisible('#error'), true);
    const text = await page.textContent('#error');
    assert.match(text, /sha256/);
    assert.match(text, /expected 0{64}/);
    assert.match(text, new RegExp(DEFAULT.sha256)); // the digest actually received
    assert.equal(await page.getAttribute('#status', 'data-state'), 'error');
    assert.equal(await page.getAttribute('#error', 'data-code'), 'sha256');
    const stored = await page.evaluate(async () => (await import('./web/store.js')).listModels());
    assert.deepEqual(stored, []);
  } finally {
    await other.close();
  }
});

test('a model URL that does not exist (404) shows a clear error; the model used before serves instead', async () => {
  const { page } = fx.browser;
  await page.goto(`${fx.site.url}index.html?model=weights/no-such-model.gguf&text=${encodeURIComponent(SENTENCE)}`);
  assert.equal(await waitForRun(page), 'done');
  const text = await page.textContent('#error');
  assert.match(text, /introuvable/);
  assert.match(text, /no-such-model\.gguf: HTTP 404/);
  assert.match(text, new RegExp(`${DEFAULT.name}, sert à sa place`));
  assert.equal(await page.getAttribute('#error', 'data-code'), 'http');
  assert.equal(await page.getAttribute('#status', 'data-state'), 'fallback');
  assert.ok((await marks(page)).some((m) => m.label === 'PER' && m.text === 'Nicolas Sarkozy'));
});
