// Dates, times, amounts and percentages on the page, in Chromium, with the default model:
//  - the JS API gives every sentence of tests/dates/fr-dates.tsv its expected DATE/TIME/MONEY/PERCENT entities
//    (UTF-16 spans, text, value), except where a model entity holds one whole and more than prepositions (the
//    merge rule: then the model's wins; on any other overlap the rule's does and the model's goes); with
//    { dates: false } there are none;
//  - the page draws them in colours of their own, with the value on hover (title, data-value); the legend
//    lists the rule types; the "dates et montants" switch turns them off.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { holdsName, readTestSet } from '../dates/fr-dates.mjs';
import { artifactPath, siteAndBrowser, waitForRun } from './harness.mjs';

const RULE_TYPES = ['DATE', 'TIME', 'MONEY', 'PERCENT'];
const SET = readTestSet();
const SAMPLE = 'Le 14 juillet 1789 à 17 heures, la Bastille coûtait 12 millions d’euros, soit 7,1 % de plus qu’en 1788.';

const fx = siteAndBrowser();

test('the JS API returns the test set\'s dates, times, amounts and percentages', async () => {
  const { page } = fx.browser;
  await page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(SAMPLE)}`);
  assert.equal(await waitForRun(page), 'done');
  const results = await page.evaluate(async (texts) => {
    const { ner } = window.surligne;
    const out = [];
    for (const text of texts) {
      out.push({ on: await ner.recognize(text), off: await ner.recognize(text, { dates: false }) });
    }
    return out;
  }, SET.map((s) => s.text));
  let expected = 0;
  let dropped = 0;
  for (const [i, s] of SET.entries()) {
    const { on, off } = results[i];
    assert.ok(off.every((e) => !RULE_TYPES.includes(e.label) && e.value === undefined), `line ${s.line}: dates off`);
    // the expected entities that no model entity holds whole with a name's words: the rule entities returned
    const want = s.entities.filter((w) => !off.some((m) => holdsName(s.text, m, w)));
    const got = on.filter((e) => RULE_TYPES.includes(e.label))
      .map((e) => ({ label: e.label, text: e.text, value: e.value ?? null, start: e.start, end: e.end }));
    assert.deepEqual(got, want, `line ${s.line}: ${s.text}`);
    // the model's entities: those that no rule entity returned overlaps
    const model = on.filter((e) => !RULE_TYPES.includes(e.label));
    assert.deepEqual(model, off.filter((m) => !got.some((g) => g.start < m.end && m.start < g.end)),
      `line ${s.line}: the model's entities`);
    for (let k = 1; k < on.length; k++) assert.ok(on[k - 1].end <= on[k].start, `line ${s.line}: in text order`);
    expected += s.entities.length;
    dropped += s.entities.length - want.length;
  }
  console.log(`# ${SET.length} sentences, ${expected} expected rule entities, ${dropped} held by a model entity`);
  assert.ok(expected >= 150);
  assert.ok(dropped <= expected * 0.05, `${dropped} of ${expected} rule entities held by model entities`);
  assert.deepEqual(fx.browser.errors, []);
});

test('the page draws them in their own colours, with the value on hover; the switch turns them off', async () => {
  const { page } = fx.browser;
  await page.goto(`${fx.site.url}index.html?text=${encodeURIComponent(SAMPLE)}`);
  assert.equal(await waitForRun(page), 'done');
  const marks = await page.$$eval('#output mark', (ms) => ms.map((m) => ({
    label: m.dataset.label, text: m.textContent, value: m.dataset.value ?? null, title: m.title,
    colour: getComputedStyle(m).backgroundColor,
  })));
  const rules = marks.filter((m) => ['DATE', 'TIME', 'MONEY', 'PERCENT'].includes(m.label));
  assert.deepEqual(rules.map((m) => [m.label, m.text, m.value]), [
    ['DATE', 'Le 14 juillet 1789', '1789-07-14'], ['TIME', '17 heures', '17:00'],
    ['MONEY', '12 millions d’euros', '12000000 EUR'], ['PERCENT', '7,1 %', '7.1'], ['DATE', '1788', '1788']]);
  for (const m of rules) assert.equal(m.title, `${m.label} · ${m.value}`);
  const colourOf = Object.fromEntries(marks.map((m) => [m.label, m.colour]));
  assert.equal(new Set(Object.values(colourOf)).size, Object.keys(colourOf).length, JSON.stringify(colourOf));
  // the legend: every type, the rule types with a description on hover
  const legend = await page.$$eval('#legend .legend-item', (xs) => xs.map((x) => [x.dataset.label, x.title]));
  for (const type of RULE_TYPES) assert.ok(legend.some(([l, t]) => l === type && t), `legend ${type}: ${legend}`);
  await page.screenshot({ path: artifactPath('page-dates.png') });
  // the switch: no rule entity any more, the model's stay
  await page.uncheck('#dates');
  await page.waitForFunction(() => !document.querySelector('#output mark[data-value]'), null, { timeout: 30_000 });
  assert.equal(await waitForRun(page), 'done');
  const after = await page.$$eval('#output mark', (ms) => ms.map((m) => m.dataset.label));
  assert.ok(!after.some((l) => RULE_TYPES.includes(l)), `${after}`);
  assert.deepEqual(fx.browser.errors, []);
});
