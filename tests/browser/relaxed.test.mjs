// The relaxed-SIMD q8_0 kernel in Chromium (engine/wasm_relaxed/, web/q8_relaxed_library.js):
//  - the page's engine (web/worker.js, both builds) runs it, and says so (info.kernel, the status line);
//  - its two tiles (i32 and i16 dot products; the engine times them and keeps the faster) give exact
//    integer sums on a case where the 7-bit activations are exact, as does its arithmetic in C
//    ("scalar-u7", engine/simd.c);
//  - on the default model its logits are scalar-u7's, bit for bit (the same engine built once, that kernel
//    chosen by sl_wasm_select_kernel), and agree with the simd128 kernel's (the fallback forced with the
//    factory option surligneKernel: 'wasm-simd128'): at least 99% of the real tokens keep their label;
//  - for the record, not checked: the 128 x 768 x 768 product on one thread with each kernel, and when
//    tools/bench.sh has made it (build/bench/base/model-q8_0.gguf), a recognize of about 128 tokens with
//    the base-shaped model. Figures are printed and written to build/artifacts/relaxed.json.
// Engines other than the page's run in a module worker made here from WORKER below.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { DEFAULT, ROOT, SENTENCE, SITE, artifactPath, launch, startSite, waitForRun } from './harness.mjs';

const MIN_ARGMAX_AGREEMENT = 0.99;
const BASE_DIR = path.join(ROOT, 'build/bench/base');
const BASE_MODEL = path.join(BASE_DIR, 'model-q8_0.gguf');

const DEFAULT_FILE = DEFAULT.file;

// French text of several kinds (news, history, long sentences with many names): about 450 real tokens.
const TEXTS = [
  SENTENCE,
  "L'Élysée a reçu Ségolène Royal et François Bayrou à Besançon, près de la Franche-Comté, avant un déplacement à Bruxelles.",
  "Le président de la SNCF a rencontré les représentants d'Airbus venus de Toulouse avec Marie Dupont, maire de Lyon, " +
    'pour parler du Grand Paris Express et de la ligne à grande vitesse entre Bordeaux et l\'Espagne.',
  'Emmanuel Macron a félicité Kylian Mbappé au Parc des Princes, puis il est reparti vers Marseille où l\'attendait ' +
    'le préfet des Bouches-du-Rhône.',
  'Victor Hugo est né à Besançon en 1802 ; il a écrit Notre-Dame de Paris et Les Misérables, et il est mort à Paris en 1885.',
  "La Banque centrale européenne, à Francfort, a relevé ses taux ; Christine Lagarde l'a annoncé devant le Parlement européen " +
    'à Strasbourg, tandis que la Bundesbank et la Banque de France approuvaient.',
  'Le cœur de Mélanie est à Saint-Étienne ; l\'équipe de l\'ASSE joue à Geoffroy-Guichard contre l\'Olympique lyonnais.',
  'À Montréal, Justin Trudeau et Valérie Plante ont inauguré avec Hydro-Québec une centrale près du fleuve Saint-Laurent.',
  "Après avoir quitté Rouen, Gustave Flaubert s'installa à Croisset, d'où il écrivait à Louise Colet et à George Sand ; " +
    'ses amis Maxime Du Camp et Louis Bouilhet venaient de Paris le voir, et ensemble ils partirent pour l\'Égypte, ' +
    'le Liban et Constantinople avant de revenir par la Grèce et l\'Italie.',
  "Le Conseil d'État a rejeté mardi le recours de la mairie de Nice contre l'arrêté du préfet des Alpes-Maritimes, " +
    'que soutenaient le ministère de l\'Intérieur et la Ligue des droits de l\'homme ; Christian Estrosi a annoncé ' +
    'qu\'il saisirait la Cour européenne des droits de l\'homme à Strasbourg.',
  "Renault, Stellantis et Michelin ont présenté au salon de Genève leurs voitures électriques ; Carlos Tavares, " +
    'venu de Poissy, a croisé Luca de Meo et Florent Menegaux devant le stand de Volkswagen, pendant que la ' +
    'Commission européenne publiait à Bruxelles ses chiffres sur les ventes en Allemagne, en Italie et en Espagne.',
  "Jeanne d'Arc, née à Domrémy, délivra Orléans en 1429 et fit sacrer Charles VII à Reims ; capturée à Compiègne " +
    'par les Bourguignons, elle fut vendue aux Anglais et jugée à Rouen par Pierre Cauchon, évêque de Beauvais.',
];

// The module worker of the engines: messages { id, op, args } -> { id, result } or { id, error }.
const WORKER = `
const engines = {};
const cstr = (M, s) => {
  const b = new TextEncoder().encode(s);
  const p = M._malloc(b.length + 1);
  M.HEAPU8.set(b, p);
  M.HEAPU8[p + b.length] = 0;
  return [p, b.length];
};
const ops = {
  // engines: { name: factory options, and select: a kernel for sl_wasm_select_kernel };
  // returns { name: { kernel, status } }
  async init(base, options) {
    const { default: create } = await import(base + 'wasm/surligne.mjs');
    const out = {};
    for (const [name, { select, ...o }] of Object.entries(options)) {
      const M = await create({ printErr: (s) => console.warn(s), ...o });
      if (select) {
        const [k] = cstr(M, select);
        const rc = M._sl_wasm_select_kernel(k);
        M._free(k);
        if (rc) throw new Error('no kernel ' + select);
      }
      engines[name] = { M, h: 0 };
      out[name] = { kernel: M.UTF8ToString(M._sl_wasm_kernel()), status: M.surligneRelaxed };
    }
    return out;
  },
  async load(name, url) {
    const e = engines[name];
    if (e.h) e.M._sl_wasm_free(e.h);
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const p = e.M._malloc(bytes.length);
    e.M.HEAPU8.set(bytes, p);
    e.h = e.M._sl_wasm_load(p, bytes.length);
    if (!e.h) throw new Error(e.M.UTF8ToString(e.M._sl_wasm_last_error()));
    return e.M._sl_wasm_n_labels(e.h);
  },
  // out (M,N) of sl_wasm_q8_product with the named kernel; x, w, bias: arrays (bias may be null)
  product(name, kernel, Mr, N, K, x, w, bias, reps) {
    const { M } = engines[name];
    const [k] = cstr(M, kernel);
    const px = M._malloc(Mr * K * 4), pw = M._malloc(N * K * 4), pb = bias ? M._malloc(N * 4) : 0, po = M._malloc(Mr * N * 4);
    try {
      M.HEAPF32.set(x, px >> 2);
      M.HEAPF32.set(w, pw >> 2);
      if (bias) M.HEAPF32.set(bias, pb >> 2);
      const ms = M._sl_wasm_q8_product(k, po, px, Mr, pw, N, K, pb, reps);
      if (ms < 0) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
      return { ms, out: Array.from(new Float32Array(M.HEAPF32.buffer, po, Mr * N)) };
    } finally {
      for (const p of [k, px, pw, pb, po]) if (p) M._free(p);
    }
  },
  // random operands made here (uniform in [-1, 1]); only the time comes back
  timeProduct(name, kernel, Mr, N, K, reps) {
    let s = 1;
    const rnd = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 31 - 1;
    return ops.product(name, kernel, Mr, N, K, Array.from({ length: Mr * K }, rnd), Array.from({ length: N * K }, rnd), null, reps).ms;
  },
  logits(name, text, maxTokens, nLabels) {
    const { M, h } = engines[name];
    const [t, n] = cstr(M, text);
    const out = M._malloc(maxTokens * nLabels * 4);
    try {
      const tokens = M._sl_wasm_logits(h, t, n, maxTokens, out);
      if (tokens < 0) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
      return Array.from(new Float32Array(M.HEAPF32.buffer, out, tokens * nLabels));
    } finally {
      M._free(t);
      M._free(out);
    }
  },
  // ms of each of reps recognitions (the first one, which sizes the arena, not counted)
  timeRecognize(name, text, reps) {
    const { M, h } = engines[name];
    const [t, n] = cstr(M, text);
    const times = [];
    try {
      for (let r = 0; r <= reps; r++) {
        const t0 = performance.now();
        if (!M._sl_wasm_recognize(h, t, n, 2, 0, -1, 1)) throw new Error(M.UTF8ToString(M._sl_wasm_last_error()));
        if (r) times.push(performance.now() - t0);
      }
    } finally {
      M._free(t);
    }
    return times;
  },
  // tokens of text, <s> and </s> included (at most the model's window)
  tokens(name, text, nLabels) {
    return ops.logits(name, text, 4096, nLabels).length / nLabels;
  },
  trial(name) {
    return engines[name].M.surligneRelaxedTrial || null;
  },
  tile(name) {
    const { M } = engines[name];
    return M.surligneRelaxedTile || null;
  },
};
onmessage = async ({ data: { id, op, args } }) => {
  try {
    postMessage({ id, result: await ops[op](...args) });
  } catch (err) {
    postMessage({ id, error: String(err?.stack || err) });
  }
};
`;

let site;
let browser;
let dir;
const figures = {};

before(async () => {
  // one origin for the page, the default model and, when there, the base-shaped one: a root of links
  dir = mkdtempSync(path.join(tmpdir(), 'surligne-relaxed-'));
  // the site with the engine builds that have the test entry points (sl_wasm_q8_product, sl_wasm_logits)
  for (const f of readdirSync(SITE)) if (f !== 'wasm') symlinkSync(path.join(SITE, f), path.join(dir, f));
  symlinkSync(process.env.SURLIGNE_WASM_TEST_DIST || path.join(ROOT, 'build-wasm/dist-test'), path.join(dir, 'wasm'));
  if (existsSync(BASE_MODEL)) symlinkSync(BASE_DIR, path.join(dir, 'base'));
  site = await startSite({ root: dir });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await site?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  writeFileSync(artifactPath('relaxed.json'), `${JSON.stringify(figures, null, 2)}\n`);
});

const call = (op, ...args) => browser.page.evaluate(([o, a]) => window.engineCall(o, ...a), [op, args]);
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

test('the page runs the relaxed-SIMD kernel, in both builds, and says so', async () => {
  const { page } = browser;
  for (const threads of [1, 2]) {
    await page.goto(`${site.url}index.html?threads=${threads}&text=${encodeURIComponent(SENTENCE)}`);
    assert.equal(await waitForRun(page), 'done');
    const info = await page.evaluate(() => window.surligne.ner.info);
    assert.equal(info.build, threads > 1 ? 'surligne-mt' : 'surligne');
    assert.equal(info.kernel, 'wasm-relaxed');
    assert.match(await page.textContent('#status'), /SIMD relaxed/);
    assert.ok((await page.$$('#output mark')).length >= 2, 'the entities are drawn');
  }
  assert.deepEqual(browser.errors, []);
});

// The tests below run in this order, in the worker this one starts.
test('engines in a worker: relaxed where Chromium allows it, simd128 when told', async () => {
  // a plain document of the site (cross-origin isolated as the page) holding the worker
  await browser.page.goto(`${site.url}weights/README.md`);
  await browser.page.evaluate((code) => {
    const worker = new Worker(URL.createObjectURL(new Blob([code], { type: 'text/javascript' })), { type: 'module' });
    const pending = new Map();
    let next = 0;
    worker.onmessage = ({ data }) => {
      const p = pending.get(data.id);
      pending.delete(data.id);
      if (data.error) p.reject(new Error(data.error));
      else p.resolve(data.result);
    };
    window.engineCall = (op, ...args) => new Promise((resolve, reject) => {
      pending.set(++next, { resolve, reject });
      worker.postMessage({ id: next, op, args });
    });
  }, WORKER);
  const got = await call('init', site.url, {
    relaxed: {},
    simd128: { surligneKernel: 'wasm-simd128' },
    i32: { surligneKernel: 'wasm-relaxed-i32' },
    i16: { surligneKernel: 'wasm-relaxed-i16' },
    u7: { surligneKernel: 'wasm-simd128', select: 'scalar-u7' },
  });
  assert.deepEqual(got, {
    relaxed: { kernel: 'wasm-relaxed', status: 'ok' },
    simd128: { kernel: 'wasm-simd128', status: 'off' },
    i32: { kernel: 'wasm-relaxed', status: 'ok' },
    i16: { kernel: 'wasm-relaxed', status: 'ok' },
    u7: { kernel: 'scalar-u7', status: undefined }, // nothing asked the relaxed module
  });
});

// Activations integers in [-63, 63] with a ±63 in every block: the 7-bit quantisation gives them back
// exactly (scale 1); weights integers in [-127, 127] with a ±127 in every block (q8_0 scale 1). Every
// output is then its integer sum (at most 768 x 63 x 127 < 2^24: exact in float). 70 rows (a run of 64,
// then 6: a ragged group of 4) x 52 columns (a run of 3 panels, then a ragged one).
test('the relaxed tiles give exact integer sums', async () => {
  const M = 70, N = 52, K = 768;
  let seed = 2024;
  const rnd = (n) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const ints = (rows, max) => Array.from({ length: rows }, () => {
    const row = Array.from({ length: K }, () => rnd(2 * max + 1) - max);
    for (let b = 0; b < K / 32; b++) row[32 * b + rnd(32)] = rnd(2) ? max : -max;
    return row;
  });
  const X = ints(M, 63);
  const W = ints(N, 127);
  const bias = Array.from({ length: N }, () => rnd(201) - 100);
  const want = [];
  for (let r = 0; r < M; r++) {
    for (let n = 0; n < N; n++) {
      let s = bias[n];
      for (let k = 0; k < K; k++) s += X[r][k] * W[n][k];
      want.push(s);
    }
  }
  for (const engine of ['i32', 'i16', 'relaxed']) {
    // 'relaxed' chooses between the two on its first calls: several, so both run
    for (let rep = 0; rep < (engine === 'relaxed' ? 3 : 1); rep++) {
      const { out } = await call('product', engine, 'wasm-relaxed', M, N, K, X.flat(), W.flat(), bias, engine === 'relaxed' ? 8 : 1);
      const bad = out.findIndex((v, i) => v !== want[i]);
      assert.equal(bad, -1, `${engine}: row ${bad / N | 0}, column ${bad % N}: ${out[bad]}, not ${want[bad]}`);
    }
  }
  // so does their arithmetic in C (engine/simd.c), the reference of the next test
  const u7 = (await call('product', 'simd128', 'scalar-u7', M, N, K, X.flat(), W.flat(), bias, 1)).out;
  const bad = u7.findIndex((v, i) => v !== want[i]);
  assert.equal(bad, -1, `scalar-u7: row ${bad / N | 0}, column ${bad % N}: ${u7[bad]}, not ${want[bad]}`);
  // the simd128 kernel's 8-bit activations are not exact here (scale 63/127): the case tells kernels apart
  const { out } = await call('product', 'simd128', 'wasm-simd128', M, N, K, X.flat(), W.flat(), bias, 1);
  assert.ok(out.some((v, i) => v !== want[i]));
});

test('default model: the relaxed kernel\'s logits are those of its arithmetic in C, and give the simd128 kernel\'s labels', async () => {
  const url = `${site.url}weights/${DEFAULT_FILE}`;
  const nLabels = await call('load', 'relaxed', url);
  assert.equal(await call('load', 'simd128', url), nLabels);
  assert.equal(await call('load', 'u7', url), nLabels);
  let tokens = 0;
  let agree = 0;
  let maxDiff = 0;
  for (const text of TEXTS) {
    const a = await call('logits', 'relaxed', text, 512, nLabels);
    const b = await call('logits', 'simd128', text, 512, nLabels);
    assert.equal(a.length, b.length);
    // the same engine, the same model: only the q8_0 tiles differ, and those of the relaxed kernel compute
    // the same integer sums and the same float operations as scalar-u7 (simd.c), so the logits are equal
    const c = await call('logits', 'u7', text, 512, nLabels);
    const differ = a.findIndex((v, i) => v !== c[i]);
    assert.equal(differ, -1, `relaxed vs scalar-u7, "${text.slice(0, 30)}…" logit ${differ}: ${a[differ]} vs ${c[differ]}`);
    const n = a.length / nLabels;
    for (let t = 1; t < n - 1; t++) { // real tokens: not <s>, </s>
      const row = (x) => x.slice(t * nLabels, (t + 1) * nLabels);
      const ra = row(a);
      const rb = row(b);
      tokens++;
      if (ra.indexOf(Math.max(...ra)) === rb.indexOf(Math.max(...rb))) agree++;
      for (let l = 0; l < nLabels; l++) maxDiff = Math.max(maxDiff, Math.abs(ra[l] - rb[l]));
    }
  }
  const agreement = agree / tokens;
  figures.default_model = { tokens, argmax_agreement: agreement, max_abs_logit_diff: maxDiff };
  console.log(`default model, relaxed vs simd128: ${tokens} tokens, argmax agreement ${(100 * agreement).toFixed(2)}%, ` +
    `max |logit difference| ${maxDiff.toFixed(4)}`);
  assert.ok(tokens > 400, `only ${tokens} tokens`);
  assert.ok(agreement >= MIN_ARGMAX_AGREEMENT, `argmax agreement ${agreement}`);
  assert.ok(maxDiff > 0, 'the two kernels differ (7-bit against 8-bit activations): the comparison compared');
});

test('speed, one thread: the 128 x 768 x 768 product with each kernel (not checked)', async () => {
  const [M, N, K] = [128, 768, 768];
  const rates = { relaxed: [], i32: [], i16: [], simd128: [] };
  for (let round = 0; round < 7; round++) {
    for (const engine of Object.keys(rates)) {
      const kernel = engine === 'simd128' ? 'wasm-simd128' : 'wasm-relaxed';
      rates[engine].push(M * N * K / (await call('timeProduct', engine, kernel, M, N, K, 3)) / 1e6);
    }
  }
  // the engine's trial decides after enough tile time (25 ms of each tile, then 7 pairs of windows): on a fast
  // processor the rounds above may not reach it, so the relaxed engine keeps working until it has chosen
  let chosen = await call('tile', 'relaxed');
  for (let extra = 0; !chosen && extra < 200; extra++) {
    await call('timeProduct', 'relaxed', 'wasm-relaxed', M, N, K, 3);
    chosen = await call('tile', 'relaxed');
  }
  figures.relaxed_trial = await call('trial', 'relaxed');
  figures.product_128x768x768_gmacs = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
  figures.relaxed_tile_chosen = chosen;
  console.log(`128x768x768, one thread, GMAC/s (median of 7): ${Object.entries(figures.product_128x768x768_gmacs)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; the relaxed engine chose its ${chosen} tile`);
  assert.ok(['i32', 'i16'].includes(chosen));
});

test('speed, one thread: a recognize of 128 tokens with the base-shaped model (not checked)', { skip: !existsSync(BASE_MODEL) && 'no build/bench/base/model-q8_0.gguf (tools/bench.sh makes it)' }, async () => {
  // the longest run of words of TEXTS that is at most 128 tokens, counted with the default model (loaded
  // by the test above; the same CamemBERT vocabulary)
  const nLabels = await call('load', 'relaxed', `${site.url}weights/${DEFAULT_FILE}`);
  const words = TEXTS.join(' ').split(' ');
  let lo = 1;
  let hi = words.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (await call('tokens', 'relaxed', words.slice(0, mid).join(' '), nLabels) <= 128) lo = mid;
    else hi = mid - 1;
  }
  const text = words.slice(0, lo).join(' ');
  let tokens = 0;
  for (const engine of ['relaxed', 'simd128']) {
    const labels = await call('load', engine, `${site.url}base/model-q8_0.gguf`);
    tokens = await call('tokens', engine, text, labels);
  }
  const times = { relaxed: [], simd128: [] };
  for (let round = 0; round < 5; round++) {
    for (const engine of Object.keys(times)) times[engine].push(median(await call('timeRecognize', engine, text, 1)));
  }
  figures.base_recognize = { tokens, relaxed_ms: median(times.relaxed), simd128_ms: median(times.simd128) };
  console.log(`base-shaped model, ${tokens} tokens, one thread: relaxed ${figures.base_recognize.relaxed_ms.toFixed(0)} ms, ` +
    `simd128 ${figures.base_recognize.simd128_ms.toFixed(0)} ms (median of 5)`);
  assert.ok(tokens > 120 && tokens <= 128, `${tokens} tokens`);
});
