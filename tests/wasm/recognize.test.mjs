// The WebAssembly engine gives the native engine's entities: for every text and aggregation, the wasm
// answer (single-thread and pthreads builds) must equal `surligne ner --format jsonl` on the same text —
// same labels, same byte offsets, scores within 1e-5 (the command line prints 6 significant digits).
// Model: SURLIGNE_TEST_MODEL, or the tiny fixture checkpoint converted here with the native CLI.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { holdsName } from '../dates/fr-dates.mjs';
import { AGGREGATIONS, CLI, ROOT, loadEngine } from './engine.mjs';

const TOLERANCE = 1e-5;

const SENTENCES = [
  'Gérald Darmanin a rendu visite à Nicolas Sarkozy à Paris.',
  "L'Élysée a reçu Ségolène Royal et François Bayrou à Besançon, près de la Franche-Comté.",
  // emoji outside the BMP (UTF-16 surrogate pairs, 4 UTF-8 bytes), a flag, a ZWJ sequence
  '🎉 Emmanuel Macron 🇫🇷 a félicité Kylian Mbappé 👨‍👩‍👧 au Parc des Princes 👍',
  // no-break space, narrow no-break space before punctuation, French quotes
  'M.\u00a0Dupont travaille chez\u202fRenault\u00a0: «\u00a0Boulogne-Billancourt\u00a0» est sa ville.',
  // combining accent (e + U+0301), ligature, apostrophe U+2019, tab and newlines
  'Le cœur de Me\u0301lanie est à Saint-Étienne.\n\tL\u2019équipe de l\u2019ASSE joue à Geoffroy-Guichard.\n',
  // dates, times, amounts, percentages: the rule recogniser's entities and values, merged with the model's
  'Le 14 juillet 1789 à 14 h 30, la Bastille coûtait 12 millions d\u2019euros, soit 7,1 % de plus qu\u2019en 1998.',
  'Hélène', // a single word
  '   ', // only spaces: no token
];

// Long text: several windows of the model (> 512 tokens), so strides and window joins are exercised.
const LONG = Array.from({ length: 40 }, (_, i) =>
  `${i + 1}. À Lyon, Marie Curie et Jean Jaurès ont rencontré l'ONU et la SNCF près de Montréal.`).join(' ');

let dir;
let modelPath;
let modelBytes;
const expected = new Map(); // key -> native entities

function entitiesFromJsonl(out) {
  return out.split('\n').filter(Boolean).map((line) => {
    const e = JSON.parse(line);
    return { label: e.label, score: e.score, start: e.start, end: e.end, value: e.value };
  });
}

function nativeEntities(text, { aggregation, threshold, stride, dates = true, decoding = 'viterbi' }) {
  const key = JSON.stringify([text, aggregation, threshold, stride, dates, decoding]);
  if (!expected.has(key)) {
    const file = path.join(dir, 'text.txt');
    writeFileSync(file, text);
    const args = ['ner', '-m', modelPath, '--format', 'jsonl', '--aggregation', aggregation];
    if (threshold) args.push('--threshold', String(threshold));
    if (stride >= 0) args.push('--stride', String(stride));
    if (!dates) args.push('--no-dates');
    if (decoding !== 'viterbi') args.push('--decoding', decoding);
    expected.set(key, entitiesFromJsonl(execFileSync(CLI, [...args, file], { encoding: 'utf8' })));
  }
  return expected.get(key);
}

function assertSameEntities(got, want, what) {
  assert.equal(got.length, want.length, `${what}: ${got.length} entities, native has ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    assert.deepEqual([g.label, g.start, g.end, g.value], [w.label, w.start, w.end, w.value], `${what}: entity ${i}`);
    assert.ok(Math.abs(g.score - w.score) <= TOLERANCE,
      `${what}: entity ${i} score ${g.score}, native ${w.score}`);
  }
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'surligne-wasm-'));
  modelPath = process.env.SURLIGNE_TEST_MODEL;
  if (!modelPath) {
    modelPath = path.join(dir, 'tiny.gguf');
    execFileSync(CLI, ['convert', path.join(ROOT, 'tests/fixtures/tiny-hf'), '-o', modelPath], { stdio: 'pipe' });
  }
  modelBytes = readFileSync(modelPath);
  assert.ok(Buffer.byteLength(LONG) > 0);
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('the Node glue and the browser build share one .wasm', () => {
  for (const variant of ['', '-mt']) {
    const dist = process.env.SURLIGNE_WASM_DIST || path.join(ROOT, 'build-wasm/dist');
    assert.ok(readFileSync(path.join(dist, `surligne${variant}.wasm`))
      .equals(readFileSync(path.join(dist, 'node', `surligne${variant}.wasm`))), `surligne${variant}.wasm`);
  }
});

for (const [variant, threadCounts] of [['', [1]], ['-mt', [1, 3]]]) {
  describe(`build surligne${variant}`, () => {
    let engine;
    let model;
    before(async () => {
      engine = await loadEngine(variant, { poolSize: 3 });
      model = engine.load(modelBytes);
    });
    after(() => {
      model?.free();
      engine?.terminate();
    });

    test('labels come from the model file', () => {
      const config = JSON.parse(readFileSync(path.join(ROOT, 'tests/fixtures/tiny-hf/config.json'), 'utf8'));
      const id2label = Object.keys(config.id2label).sort((a, b) => a - b).map((k) => config.id2label[k]);
      if (!process.env.SURLIGNE_TEST_MODEL) assert.deepEqual(model.labels(), id2label);
      assert.ok(model.maxTokens() >= 3);
    });

    test('the long text needs several windows', () => {
      const tokens = execFileSync(CLI, ['tokenize', '-m', modelPath], { input: LONG, encoding: 'utf8' });
      const n = tokens.trim().split(/\s+/).length;
      assert.ok(n > model.maxTokens(), `${n} tokens, model window ${model.maxTokens()}`);
    });

    for (const threads of threadCounts) {
      for (const aggregation of AGGREGATIONS) {
        test(`${aggregation}, ${threads} thread(s): the native entities`, () => {
          let total = 0;
          for (const [i, text] of [...SENTENCES, LONG].entries()) {
            const want = nativeEntities(text, { aggregation, threshold: 0, stride: -1 });
            const got = model.recognize(text, { aggregation, threads });
            assertSameEntities(got, want, `text ${i}`);
            for (const e of got) assert.ok(e.start < e.end && e.end <= Buffer.byteLength(text));
            total += got.length;
          }
          assert.ok(total > 10, `only ${total} entities: the comparison would prove little`);
        });
      }
      test(`threshold and stride, ${threads} thread(s)`, () => {
        for (const options of [{ aggregation: 'simple', threshold: 0.3, stride: -1 },
          { aggregation: 'average', threshold: 0, stride: 17 },
          { aggregation: 'none', threshold: 0.25, stride: 0 },
          { aggregation: 'first', threshold: 0, stride: -1, decoding: 'argmax' },
          { aggregation: 'max', threshold: 0.2, stride: -1, decoding: 'argmax' }]) {
          assertSameEntities(model.recognize(LONG, { ...options, threads }), nativeEntities(LONG, options),
            JSON.stringify(options));
        }
      });
    }

    test('decoding: Viterbi and argmax read the same scores differently somewhere, as natively', () => {
      let differ = 0;
      for (const text of [...SENTENCES, LONG]) {
        const viterbi = model.recognize(text, { dates: false });
        const argmax = model.recognize(text, { dates: false, decoding: 'argmax' });
        assertSameEntities(argmax, nativeEntities(text, { aggregation: 'first', threshold: 0, stride: -1, dates: false,
          decoding: 'argmax' }), 'argmax');
        if (JSON.stringify(viterbi) !== JSON.stringify(argmax)) differ++;
      }
      assert.ok(differ > 0, 'the two decodings agree on every text: the comparison would prove little');
    });

    test('dates: the rule entities with their values, or none with dates off', () => {
      const text = SENTENCES.find((s) => s.includes('1789'));
      const withDates = model.recognize(text);
      const without = model.recognize(text, { dates: false });
      assertSameEntities(without, nativeEntities(text, { aggregation: 'first', threshold: 0, stride: -1, dates: false }),
        'dates off');
      assert.ok(without.every((e) => e.value === undefined), 'no value without dates');
      const rules = engine.dates(text);
      // byte offsets: the merge rule on the text as Latin-1 of its UTF-8 bytes (the words it knows are ASCII or à)
      const bytes = Buffer.from(text, 'utf8').toString('latin1').replace(/\u00c3\u00a0/g, 'à ');
      assert.equal(rules.length, 5, JSON.stringify(rules));
      assert.deepEqual(rules.map((e) => e.value), ['1789-07-14', '14:30', '12000000 EUR', '7.1', '1998']);
      // each rule entity is in the merged list unless a model entity holds it whole and more than prepositions;
      // each model entity unless a kept rule entity overlaps it
      for (const r of rules) {
        const held = without.some((e) => holdsName(bytes, e, r));
        const kept = withDates.some((e) => e.start === r.start && e.end === r.end && e.value === r.value);
        assert.equal(kept, !held, `${JSON.stringify(r)}: kept ${kept}, held ${held}`);
      }
      for (const m of without) {
        const overlapped = withDates.some((e) => e.value !== undefined && e.start < m.end && m.start < e.end);
        const kept = withDates.some((e) => e.start === m.start && e.end === m.end && e.label === m.label);
        assert.equal(kept, !overlapped, `${JSON.stringify(m)}: kept ${kept}, overlapped ${overlapped}`);
      }
    });

    test('errors come back as messages', () => {
      assert.throws(() => model.recognize('Paris', { aggregation: 'loudest' }), /aggregation/);
      assert.throws(() => model.recognize('Paris', { stride: 100000 }), /stride/);
      assert.throws(() => engine.load(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), /\w/);
      assert.throws(() => engine.load(modelBytes.subarray(0, modelBytes.length >> 1)), /\w/);
      if (engine.hasThreads) {
        assert.throws(() => model.recognize('Paris', { threads: 64 }), /thread/);
      } else {
        assert.throws(() => model.recognize('Paris', { threads: 2 }), /thread/);
      }
      // the model still works after the failures
      assertSameEntities(model.recognize(SENTENCES[0]),
        nativeEntities(SENTENCES[0], { aggregation: 'first', threshold: 0, stride: -1 }), 'after errors');
    });

    test('invalid UTF-8 is refused', () => {
      const M = engine.M;
      const bad = new Uint8Array([0x50, 0x61, 0xc3, 0x28, 0x72]);
      const p = M._malloc(bad.length);
      M.HEAPU8.set(bad, p);
      const r = M._sl_wasm_recognize(model.h, p, bad.length, 2, 0, -1, 1);
      M._free(p);
      assert.equal(r, 0);
      assert.match(engine.error(), /^6: /);
    });
  });
}
