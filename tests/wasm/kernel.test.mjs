// The q8_0 kernel the WebAssembly engine chooses in Node, and its answers on a q8_0 model.
//
// The relaxed-SIMD kernel (engine/wasm_relaxed/, web/q8_relaxed_library.js) runs only where the engine
// validates its module and the module passes its self-test. Node 20 has no relaxed SIMD (the module does
// not validate), and with --experimental-wasm-relaxed-simd an early draft of it that the self-test must
// catch: both times the engine keeps simd128, and its q8_0 answers are the native command line's.
// Tests/browser/relaxed.test.mjs checks the relaxed kernel in Chromium.
//
// Tolerances on a q8_0 model: the integer sums of the product are exact everywhere, but its input is
// quantised to int8 at each Linear layer, and a last-bit difference upstream (native code contracts to
// FMA and vectorises differently) can move a value across a rounding boundary, by one step of 1/127 of its
// block's largest: measured 0.012 at most in the logits of the default model (LOGIT_TOLERANCE 0.05), and
// 1.2e-3 in entity scores (SCORE_TOLERANCE 5e-3). The f32 model of recognize.test.mjs agrees to 1e-5.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { CLI, DIST, ROOT, TEST_DIST } from './engine.mjs';

const require = createRequire(import.meta.url);
const LOGIT_TOLERANCE = 0.05;
const SCORE_TOLERANCE = 5e-3;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

const MANIFEST = JSON.parse(readFileSync(path.join(ROOT, 'weights/models.json'), 'utf8'));
const MODEL_PATH = path.join(ROOT, 'weights', MANIFEST.models.find((m) => m.name === MANIFEST.default).file);

const TEXTS = [
  'Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy à Paris.',
  "L'Élysée a reçu Ségolène Royal et François Bayrou à Besançon, près de la Franche-Comté, avant de partir pour Bruxelles.",
  'Le président de la SNCF a rencontré les représentants d\'Airbus venus de Toulouse avec Marie Dupont, maire de Lyon.',
];

// The Emscripten module of a build ('' or '-mt', with the test entry points) with factory options
// (surligneKernel, ...).
async function createModule(variant, options = {}) {
  const factory = require(path.join(TEST_DIST, 'node', `surligne${variant}.cjs`));
  return factory({ wasmBinary: readFileSync(path.join(TEST_DIST, `surligne${variant}.wasm`)), surlignePoolSize: 1, ...options });
}

const kernelOf = (M) => M.UTF8ToString(M._sl_wasm_kernel());

function cString(M, s) {
  const bytes = new TextEncoder().encode(s);
  const p = M._malloc(bytes.length + 1);
  M.HEAPU8.set(bytes, p);
  M.HEAPU8[p + bytes.length] = 0;
  return p;
}

function loadModel(M, bytes) {
  const p = M._malloc(bytes.length);
  M.HEAPU8.set(bytes, p);
  const h = M._sl_wasm_load(p, bytes.length);
  assert.ok(h, M.UTF8ToString(M._sl_wasm_last_error()));
  return h;
}

// logits (tokens x labels) of the first window of text, by sl_wasm_logits
function logits(M, h, text, nLabels, maxTokens = 512) {
  const t = cString(M, text);
  const out = M._malloc(maxTokens * nLabels * 4);
  try {
    const n = M._sl_wasm_logits(h, t, new TextEncoder().encode(text).length, maxTokens, out);
    assert.ok(n > 0, M.UTF8ToString(M._sl_wasm_last_error()));
    const flat = new Float32Array(M.HEAPF32.buffer, out, n * nLabels);
    return Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * nLabels, (i + 1) * nLabels)));
  } finally {
    M._free(t);
    M._free(out);
  }
}

for (const variant of ['', '-mt']) {
  describe(`build surligne${variant}`, () => {
    let M;
    before(async () => {
      M = await createModule(variant);
    });
    after(() => M?.terminateThreads?.());

    test('Node 20 gets the simd128 kernel: the relaxed-SIMD module does not validate', { skip: NODE_MAJOR !== 20 }, () => {
      assert.equal(kernelOf(M), 'wasm-simd128');
      assert.equal(M.surligneRelaxed, 'unsupported');
    });

    test('whatever the Node, the kernel is one of the two, and relaxed only with a passed self-test', () => {
      const kernel = kernelOf(M);
      assert.ok(['wasm-simd128', 'wasm-relaxed'].includes(kernel), kernel);
      assert.equal(kernel === 'wasm-relaxed', M.surligneRelaxed === 'ok', `${kernel}: ${M.surligneRelaxed}`);
    });

    test('surligneKernel: "wasm-simd128" turns the relaxed kernel off', async () => {
      const F = await createModule(variant, { surligneKernel: 'wasm-simd128' });
      try {
        assert.equal(kernelOf(F), 'wasm-simd128');
        assert.equal(F.surligneRelaxed, 'off');
      } finally {
        F.terminateThreads?.();
      }
    });

    test('sl_wasm_select_kernel: scalar-u7 (the relaxed kernel\'s arithmetic in C) runs anywhere, an absent kernel is refused', async () => {
      const F = await createModule(variant);
      const u7 = cString(F, 'scalar-u7');
      const absent = cString(F, 'avx512vnni');
      try {
        const fastest = kernelOf(F);
        assert.equal(F._sl_wasm_select_kernel(absent), -1);
        assert.equal(kernelOf(F), fastest);
        assert.equal(F._sl_wasm_select_kernel(u7), 0);
        assert.equal(kernelOf(F), 'scalar-u7');
        assert.equal(F._sl_wasm_select_kernel(0), 0);
        assert.equal(kernelOf(F), fastest);
      } finally {
        F._free(u7);
        F._free(absent);
        F.terminateThreads?.();
      }
    });

    // Integers in [-127, 127] with a ±127 in every block: the q8_0 weights and the int8 activations are the
    // integers themselves (unit scales), so every output is its integer sum, exactly.
    test('sl_wasm_q8_product: exact integer sums with the engine\'s kernel, none with an absent one', () => {
      const Mr = 7, N = 52, K = 96;
      let seed = 7;
      const rnd = (n) => {
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return (seed >>> 8) % n;
      };
      const ints = (rows) => Array.from({ length: rows }, () => {
        const row = Array.from({ length: K }, () => rnd(255) - 127);
        for (let b = 0; b < K / 32; b++) row[32 * b + rnd(32)] = rnd(2) ? 127 : -127;
        return row;
      });
      const X = ints(Mr);
      const W = ints(N);
      const bias = Array.from({ length: N }, () => rnd(21) - 10);
      const x = M._malloc(Mr * K * 4);
      const w = M._malloc(N * K * 4);
      const b = M._malloc(N * 4);
      const out = M._malloc(Mr * N * 4);
      const name = cString(M, kernelOf(M));
      const absent = cString(M, 'avx512vnni');
      try {
        M.HEAPF32.set(X.flat(), x >> 2);
        M.HEAPF32.set(W.flat(), w >> 2);
        M.HEAPF32.set(bias, b >> 2);
        assert.ok(M._sl_wasm_q8_product(name, out, x, Mr, w, N, K, b, 2) >= 0, M.UTF8ToString(M._sl_wasm_last_error()));
        const got = new Float32Array(M.HEAPF32.buffer, out, Mr * N);
        for (let r = 0; r < Mr; r++) {
          for (let n = 0; n < N; n++) {
            let want = bias[n];
            for (let k = 0; k < K; k++) want += X[r][k] * W[n][k];
            assert.equal(got[r * N + n], want, `row ${r}, column ${n}`);
          }
        }
        assert.equal(M._sl_wasm_q8_product(absent, out, x, Mr, w, N, K, b, 1), -1);
      } finally {
        for (const p of [x, w, b, out, name, absent]) M._free(p);
      }
    });

    test('on the default (q8_0) model: the native command line\'s logits and entities', () => {
      const bytes = readFileSync(MODEL_PATH);
      assert.ok(execFileSync(CLI, ['inspect', MODEL_PATH], { encoding: 'utf8' }).includes('q8_0'),
        'the default model has q8_0 weights (the product under test)');
      const h = loadModel(M, bytes);
      try {
        const labels = Array.from({ length: M._sl_wasm_n_labels(h) }, (_, i) => M.UTF8ToString(M._sl_wasm_label(h, i)));
        const ids = execFileSync(CLI, ['tokenize', '-m', MODEL_PATH], { input: TEXTS.join('\n') + '\n', encoding: 'utf8' });
        const native = execFileSync(CLI, ['logits', '-m', MODEL_PATH], { input: ids, encoding: 'utf8' })
          .trim().split('\n').map((line) => JSON.parse(line));
        let worst = 0;
        for (const [i, text] of TEXTS.entries()) {
          const got = logits(M, h, text, labels.length);
          assert.equal(got.length, native[i].length, `text ${i}: tokens`);
          for (let t = 0; t < got.length; t++) {
            for (let l = 0; l < labels.length; l++) worst = Math.max(worst, Math.abs(got[t][l] - native[i][t][l]));
          }
        }
        assert.ok(worst < LOGIT_TOLERANCE, `logits differ from the native ones by up to ${worst}`);
        // entities, as tests/wasm/recognize.test.mjs does for the f32 model
        for (const text of TEXTS) {
          const t = cString(M, text);
          const json = M._sl_wasm_recognize(h, t, new TextEncoder().encode(text).length, 2, 0, -1, 1);
          M._free(t);
          assert.ok(json, M.UTF8ToString(M._sl_wasm_last_error()));
          const got = JSON.parse(M.UTF8ToString(json));
          const want = execFileSync(CLI, ['ner', '-m', MODEL_PATH, '--format', 'jsonl', '--aggregation', 'first'],
            { input: text, encoding: 'utf8' }).split('\n').filter(Boolean).map((line) => JSON.parse(line));
          assert.deepEqual(got.map((e) => [e.label, e.start, e.end]), want.map((e) => [e.label, e.start, e.end]));
          for (let i = 0; i < got.length; i++) assert.ok(Math.abs(got[i].score - want[i].score) <= SCORE_TOLERANCE);
        }
      } finally {
        M._sl_wasm_free(h);
      }
    });
  });
}

// V8 11.3's draft of relaxed SIMD (behind a flag in Node 20) validates the module but computes other
// numbers for the relaxed dot products: the self-test must refuse it.
test('Node 20 with --experimental-wasm-relaxed-simd: the self-test refuses the draft, simd128 stays', { skip: NODE_MAJOR !== 20 }, () => {
  const script = `
    const { readFileSync } = require('node:fs');
    (async () => {
      const out = [];
      for (const v of ['', '-mt']) {
        const M = await require(${JSON.stringify(path.join(DIST, 'node'))} + '/surligne' + v + '.cjs')({
          wasmBinary: readFileSync(${JSON.stringify(DIST)} + '/surligne' + v + '.wasm'), surlignePoolSize: 1 });
        out.push([M.UTF8ToString(M._sl_wasm_kernel()), M.surligneRelaxed]);
        M.terminateThreads?.();
      }
      console.log(JSON.stringify(out));
    })();`;
  const got = JSON.parse(execFileSync(process.execPath, ['--experimental-wasm-relaxed-simd', '-e', script], { encoding: 'utf8' }));
  for (const [kernel, status] of got) {
    assert.equal(kernel, 'wasm-simd128');
    assert.match(status, /^self-test failed: /);
  }
});
