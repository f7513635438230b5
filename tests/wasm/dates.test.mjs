// The rule recogniser in WebAssembly (sl_wasm_dates, both builds) gives every sentence of the test set
// tests/dates/fr-dates.tsv exactly its expected entities: label, span and value (the C test checks the same
// set natively).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { readTestSet, utf16Index } from '../dates/fr-dates.mjs';
import { loadEngine } from './engine.mjs';

const SET = readTestSet();

for (const variant of ['', '-mt']) {
  test(`surligne${variant}: the test set's dates, times, amounts and percentages`, async () => {
    const engine = await loadEngine(variant, { poolSize: 1 });
    try {
      assert.ok(SET.length >= 150, `${SET.length} sentences`);
      let entities = 0;
      for (const s of SET) {
        const got = engine.dates(s.text).map((e) => ({
          label: e.label, text: s.text.slice(utf16Index(s.text, e.start), utf16Index(s.text, e.end)), value: e.value ?? null,
          start: utf16Index(s.text, e.start), end: utf16Index(s.text, e.end),
        }));
        assert.deepEqual(got, s.entities, `line ${s.line}: ${s.text}`);
        entities += got.length;
      }
      assert.ok(entities >= 150, `${entities} entities`);
    } finally {
      engine.terminate();
    }
  });
}
