// Responsiveness and the figures the README quotes, measured in Chromium:
//  - the page's main thread stays responsive while a 50,000-character text is recognised (longest
//    'longtask' and longest gap between animation frames, both printed, both bounded);
//  - download size of the JS + wasm the page needs (gzip -9), time to ready with the model in IndexedDB,
//    first-result latency for a 50-word sentence (median of several page loads).
// Figures are printed and written to build/artifacts/measurements.json.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { SENTENCE, SITE, artifactPath, siteAndBrowser, waitForRun } from './harness.mjs';

// Bounds on the longest main-thread task and frame gap during a 50,000-character run: drawing a few
// thousand marks is the only main-thread work; the machine may be busy, hence the margin.
const MAX_LONG_TASK_MS = Number(process.env.SURLIGNE_MAX_LONG_TASK_MS || 400);

const FIFTY_WORDS = 'Le président Emmanuel Macron a reçu mardi à l\'Élysée la chancelière Angela Merkel, ' +
  'venue de Berlin avec une délégation de Siemens et de la Deutsche Bank, pour parler de l\'avenir ' +
  'd\'Airbus à Toulouse, des chantiers de Saint-Nazaire et du projet de la SNCF entre Paris et Lyon, ' +
  'avant un dîner au Louvre.';

const DIST = path.join(SITE, 'wasm');
const figures = {};

const fx = siteAndBrowser();

after(() => {
  writeFileSync(artifactPath('measurements.json'), `${JSON.stringify(figures, null, 2)}\n`);
});

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

test('the main thread stays responsive during a 50,000-character text', async () => {
  const { page } = fx.browser;
  await page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(SENTENCE)}`);
  assert.equal(await waitForRun(page), 'done');
  const paragraphs = [];
  for (let i = 0; paragraphs.join('\n\n').length < 50_000; i++) {
    paragraphs.push(`${i + 1}. ${FIFTY_WORDS} ${SENTENCE} 🎉 Ségolène Royal était à Besançon.`);
  }
  const text = paragraphs.join('\n\n').slice(0, 50_000);
  const probe = await page.evaluate(async (t) => {
    const tasks = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) tasks.push(e.duration);
    });
    observer.observe({ type: 'longtask' });
    let last = performance.now();
    let maxGap = 0;
    let frames = 0;
    let running = true;
    const frame = (now) => {
      maxGap = Math.max(maxGap, now - last);
      last = now;
      frames++;
      if (running) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    const input = document.querySelector('#input');
    const output = document.querySelector('#output');
    const t0 = performance.now();
    input.value = t;
    input.dispatchEvent(new Event('input'));
    await new Promise((resolve) => {
      const check = () => (output.dataset.state === 'done' && output.textContent.length === t.length
        ? resolve() : setTimeout(check, 20));
      setTimeout(check, 200);
    });
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 100)); // let the observer report the last tasks
    running = false;
    observer.disconnect();
    return { ms, longTasks: tasks, maxLongTask: Math.max(0, ...tasks), maxFrameGap: maxGap, frames,
      marks: output.querySelectorAll('mark').length };
  }, text);
  const line = `50,000 characters: ${probe.marks} marks in ${Math.round(probe.ms)} ms; longest main-thread task ` +
    `${Math.round(probe.maxLongTask)} ms (${probe.longTasks.length} over 50 ms), longest frame gap ` +
    `${Math.round(probe.maxFrameGap)} ms over ${probe.frames} frames`;
  console.log(`${line}`);
  Object.assign(figures, {
    text50k_ms: Math.round(probe.ms),
    text50k_marks: probe.marks,
    text50k_longest_task_ms: Math.round(probe.maxLongTask),
    text50k_longest_frame_gap_ms: Math.round(probe.maxFrameGap),
  });
  assert.ok(probe.marks > 100, `only ${probe.marks} marks`);
  assert.ok(probe.frames > 5, 'frames kept coming while the worker ran');
  assert.ok(probe.maxLongTask < MAX_LONG_TASK_MS, line);
  assert.ok(probe.maxFrameGap < MAX_LONG_TASK_MS + 100, line);
});

test('figures: download size, time to ready from IndexedDB, first-result latency', async () => {
  const { page } = fx.browser;
  // what the page downloads besides the model, gzip -9 (as a server would send it)
  const gz = (file) => gzipSync(readFileSync(file), { level: 9 }).length;
  const js = ['web/surligne.js', 'web/worker.js', 'web/engine.js', 'web/store.js', 'web/highlight.js', 'web/app.js']
    .reduce((n, f) => n + gz(path.join(SITE, f)), 0);
  const single = gz(path.join(DIST, 'surligne.mjs')) + gz(path.join(DIST, 'surligne.wasm'));
  const multi = gz(path.join(DIST, 'surligne-mt.mjs')) + gz(path.join(DIST, 'surligne-mt.wasm')) +
    gz(path.join(DIST, 'surligne-mt.worker.js'));
  Object.assign(figures, { gzip_page_js: js, gzip_engine_single: single, gzip_engine_threads: multi });

  const ready = {};
  const first = {};
  for (const threads of [1, 2]) {
    ready[threads] = [];
    first[threads] = [];
    for (let run = 0; run < 4; run++) {
      await page.goto(`${fx.site.url}index.html?threads=${threads}&text=${encodeURIComponent(SENTENCE)}`);
      assert.equal(await waitForRun(page), 'done');
      const m = await page.evaluate(async (text) => {
        const { ner } = window.surligne;
        const t0 = performance.now();
        const entities = await ner.recognize(text);
        return { info: ner.info, ms: performance.now() - t0, n: entities.length };
      }, `${FIFTY_WORDS} (${run})`);
      assert.equal(m.info.source, 'indexeddb');
      assert.equal(m.info.threads, threads);
      assert.ok(m.n > 0);
      if (run > 0) { // the first load of each build compiles its wasm; the browser caches that
        ready[threads].push(m.info.readyMs);
        first[threads].push(m.ms);
      }
    }
  }
  for (const threads of [1, 2]) {
    figures[`ready_from_indexeddb_ms_threads${threads}`] = Math.round(median(ready[threads]));
    figures[`first_result_50_words_ms_threads${threads}`] = Math.round(median(first[threads]));
  }
  console.log(`download (gzip -9): page JS ${(js / 1024).toFixed(1)} KiB, engine one thread ` +
    `${(single / 1024).toFixed(1)} KiB, engine pthreads ${(multi / 1024).toFixed(1)} KiB`);
  for (const threads of [1, 2]) {
    console.log(`${threads} thread(s): ready from IndexedDB in ${figures[`ready_from_indexeddb_ms_threads${threads}`]} ms ` +
      `(median of ${ready[threads].map(Math.round).join(', ')}), first result for 50 words in ` +
      `${figures[`first_result_50_words_ms_threads${threads}`]} ms (${first[threads].map(Math.round).join(', ')})`);
  }
  assert.ok(single < 200 * 1024);
});
