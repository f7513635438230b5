#!/usr/bin/env node
// Dates, times, amounts and percentages: surligne's rule recogniser (engine/dates.c, its WebAssembly build in
// Node) against Microsoft's Recognizers-Text (npm @microsoft/recognizers-text-suite, French culture) on the
// same test set, tests/dates/fr-dates.tsv, in one run; prints the table of the README.
//
//   bash tools/build-wasm.sh && npm ci && node tools/compare-dates.mjs [--set FILE.tsv] [--verbose] [--json FILE]
//
// --set: another file of the same format (default tests/dates/fr-dates.tsv; tests/dates/fr-dates-heldout.tsv
// is a second set written after the rules and never used to tune them).
//
// Recognizers-Text is an optional dependency of package.json (npm ci installs it; the tests leave it out).
// Its entities come from recognizeDateTime, recognizeCurrency and recognizePercentage; where they overlap, the
// longest is kept (then the earliest). Its types map to ours: datetimeV2.date, .daterange, .datetime,
// .datetimerange -> DATE; .time, .timerange -> TIME; currency -> MONEY; percentage -> PERCENT; durations and
// sets are not dates and are left out. Its resolutions are rewritten into our notation where they say the same
// thing: TIMEX "XXXX-03-04" -> "--03-04", "2027-SU" -> "2027-22" (ISO 8601-2), "(2026-06-03,2026-06-07,P4D)" ->
// "2026-06-03/2026-06-07", "T14:30" -> "14:30", currency unit names -> ISO 4217 codes ("Centimes": a
// hundredth of a euro), "7,1%" -> "7.1". Relative dates it resolves against today ("hier"): the set expects
// no value there, so those values are not scored.
//
// Scores, per system: an entity is right when its type and span equal the expected ones (strict), or equal
// them once a leading article or preposition is taken off both ("le", "la", "les", "l'", "du", "au", "des",
// "en", "à", "depuis", "avant", "vers", "entre"…: lenient, since the two systems place that boundary
// differently). Precision = right / found,
// recall = right / expected, value accuracy = entities found (lenient) with the expected value / expected
// entities that have a value.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TEST_SET, readTestSet, utf16Index } from '../tests/dates/fr-dates.mjs';
import { loadEngine } from '../tests/wasm/engine.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : null;
const setFile = args.includes('--set') ? path.resolve(args[args.indexOf('--set') + 1]) : TEST_SET;

let Recognizers;
try {
  Recognizers = (await import('@microsoft/recognizers-text-suite')).default;
} catch {
  console.error('compare-dates: @microsoft/recognizers-text-suite is not installed (npm ci installs the optional ' +
    'dependencies of package.json)');
  process.exit(2);
}
const peerVersion = JSON.parse(readFileSync(path.join(ROOT, 'node_modules/@microsoft/recognizers-text-suite/package.json'),
  'utf8')).version;

const SET = readTestSet(setFile);

// ---- surligne ----------------------------------------------------------------------------------------------

const engine = await loadEngine('');
function surligne(text) {
  return engine.dates(text).map((e) => {
    const start = utf16Index(text, e.start);
    const end = utf16Index(text, e.end);
    return { label: e.label, start, end, text: text.slice(start, end), value: e.value ?? null };
  });
}

// ---- Recognizers-Text --------------------------------------------------------------------------------------

const TYPES = {
  'datetimeV2.date': 'DATE', 'datetimeV2.daterange': 'DATE', 'datetimeV2.datetime': 'DATE',
  'datetimeV2.datetimerange': 'DATE', 'datetimeV2.time': 'TIME', 'datetimeV2.timerange': 'TIME',
  currency: 'MONEY', percentage: 'PERCENT',
};
const SEASONS = { SP: 21, SU: 22, FA: 23, WI: 24 };
// unit names of its French currency resolution -> [ISO 4217, divisor]
const UNITS = {
  Euro: ['EUR', 1], Centimes: ['EUR', 100], Cent: ['USD', 100], Dollar: ['USD', 1], 'Dollar États-Unis': ['USD', 1],
  'Dollar canadien': ['CAD', 1], 'Franc Suisse': ['CHF', 1], Franc: ['FRF', 1], "Franc CFA de l'Afrique de l'Ouest": ['XOF', 1],
  Livre: ['GBP', 1], 'Livre sterling': ['GBP', 1], 'Yen Japonais': ['JPY', 1], Yen: ['JPY', 1], Yuan: ['CNY', 1],
};

// A TIMEX date ("2024-03-05", "XXXX-03-05", "2024-03", "1998") in our notation, or null.
function timexDate(t) {
  let m;
  if ((m = /^(\d{4})(-\d{2}(-\d{2})?)?$/.exec(t))) return t;
  if ((m = /^XXXX(-\d{2}(-\d{2})?)$/.exec(t))) return `-${m[1]}`;
  if ((m = /^(\d{4})-(SP|SU|FA|WI)$/.exec(t))) return `${m[1]}-${SEASONS[m[2]]}`;
  return null;
}

function peerValue(r, label) {
  const res = r.resolution;
  if (!res) return null;
  if (label === 'MONEY') {
    const unit = UNITS[res.unit];
    if (!unit || res.value == null) return null;
    const amount = Number(String(res.value).replace(',', '.')) / unit[1];
    return `${Number(amount.toPrecision(15))} ${unit[0]}`;
  }
  if (label === 'PERCENT') return res.value == null ? null : String(res.value).replace('%', '').replace(',', '.').trim();
  const v = res.values?.[0];
  if (!v?.timex) return null;
  if (label === 'TIME') {
    const m = /^T(\d{2})(?::(\d{2}))?$/.exec(v.timex);
    return m ? `${m[1]}:${m[2] ?? '00'}` : null;
  }
  const t = v.timex.replace(/T.*$/, ''); // a datetime's date
  const range = /^\(([^,]+),([^,]+),P(\d+)([DY])\)$/.exec(v.timex);
  if (range) {
    const [a, b] = [timexDate(range[1]), timexDate(range[2])];
    if (!a || !b) return null;
    if (range[4] === 'D') return `${a}/${b}`;
    // (1960-01-01,1970-01-01,P10Y): the years from the first to the one before the second
    return `${a.slice(0, 4)}/${String(Number(b.slice(0, 4)) - 1).padStart(4, '0')}`;
  }
  return timexDate(t);
}

function recognizers(text) {
  const culture = Recognizers.Culture.French;
  const all = [];
  for (const r of [...Recognizers.recognizeDateTime(text, culture), ...Recognizers.recognizeCurrency(text, culture),
    ...Recognizers.recognizePercentage(text, culture)]) {
    const label = TYPES[r.typeName];
    if (!label) continue; // durations, sets
    let { start } = r;
    let end = r.end + 1; // its end is inclusive
    while (start < end && /\s/.test(text[start])) start++;
    all.push({ label, start, end, text: text.slice(start, end), value: peerValue(r, label) });
  }
  // overlaps: the longest first, then the earliest
  all.sort((a, b) => (b.end - b.start) - (a.end - a.start) || a.start - b.start);
  const kept = [];
  for (const e of all) if (!kept.some((k) => k.start < e.end && e.start < k.end)) kept.push(e);
  return kept.sort((a, b) => a.start - b.start);
}

// ---- scoring -----------------------------------------------------------------------------------------------

const LEADING = /^(?:le|la|les|du|au|aux|des|en|à|de|depuis|dès|avant|après|vers|entre|jusqu['’](?:à|au|en)|l['’]|d['’])\s*/i;
function lenientStart(text, e) {
  let start = e.start;
  for (let k = 0; k < 3; k++) { // "depuis le 3 mars" -> "3 mars"
    const m = LEADING.exec(text.slice(start, e.end));
    if (!m || m[0].length >= e.end - start) break;
    start += m[0].length;
  }
  return start;
}

function score(name, run) {
  const s = { name, found: 0, expected: 0, strict: 0, lenient: 0, valued: 0, valueRight: 0, misses: [] };
  const t0 = performance.now();
  const outputs = SET.map((x) => run(x.text));
  s.ms = performance.now() - t0;
  s.outputs = outputs;
  SET.forEach((x, i) => {
    const got = outputs[i];
    s.found += got.length;
    s.expected += x.entities.length;
    const used = new Set();
    for (const want of x.entities) {
      if (want.value != null) s.valued++;
      const strict = got.find((g) => g.label === want.label && g.start === want.start && g.end === want.end);
      const lenient = strict || got.find((g) => !used.has(g) && g.label === want.label && g.end === want.end &&
        lenientStart(x.text, g) === lenientStart(x.text, want));
      if (strict) s.strict++;
      if (lenient) {
        s.lenient++;
        used.add(lenient);
        if (want.value != null && lenient.value === want.value) s.valueRight++;
      }
      if (!lenient || (want.value != null && lenient.value !== want.value)) {
        s.misses.push(`line ${x.line}: want ${want.label} '${want.text}' ${want.value ?? '-'}; got ${
          lenient ? `'${lenient.text}' ${lenient.value ?? '-'}` : 'nothing'}`);
      }
    }
    for (const g of got) {
      const right = x.entities.some((w) => w.label === g.label && w.end === g.end &&
        lenientStart(x.text, g) === lenientStart(x.text, w));
      if (!right) s.misses.push(`line ${x.line}: extra ${g.label} '${g.text}' ${g.value ?? '-'}`);
    }
  });
  return s;
}

const ours = score('surligne (engine/dates.c, wasm)', surligne);
const peer = score(`Recognizers-Text ${peerVersion} (French)`, recognizers);

const f = (x) => x.toFixed(3);
const f1 = (p, r) => (p + r ? (2 * p * r) / (p + r) : 0);
const sentences = SET.length;
const negatives = SET.filter((x) => !x.entities.length).length;
console.log(`${path.relative(ROOT, setFile)}: ${sentences} sentences (${negatives} with nothing to find), ${ours.expected} ` +
  `entities, ${ours.valued} with a value\n`);
console.log('| system | found | precision (strict / lenient) | recall (strict / lenient) | F1 (lenient) | value accuracy | ms |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const s of [ours, peer]) {
  const [ps, pl, rs, rl] = [s.strict / s.found, s.lenient / s.found, s.strict / s.expected, s.lenient / s.expected];
  console.log(`| ${s.name} | ${s.found} | ${f(ps)} / ${f(pl)} | ${f(rs)} / ${f(rl)} | ${f(f1(pl, rl))} | ` +
    `${f(s.valueRight / s.valued)} (${s.valueRight}/${s.valued}) | ${Math.round(s.ms)} |`);
}
// per type, lenient
console.log('\n| type | expected | surligne P / R | Recognizers-Text P / R |');
console.log('| --- | ---: | ---: | ---: |');
for (const type of ['DATE', 'TIME', 'MONEY', 'PERCENT']) {
  const row = [ours, peer].map((s) => {
    let found = 0;
    let right = 0;
    let expected = 0;
    for (const [i, x] of SET.entries()) {
      const got = s.outputs[i].filter((g) => g.label === type);
      const want = x.entities.filter((w) => w.label === type);
      found += got.length;
      expected += want.length;
      right += want.filter((w) => got.some((g) => g.end === w.end && lenientStart(x.text, g) === lenientStart(x.text, w))).length;
    }
    return { found, right, expected };
  });
  console.log(`| ${type} | ${row[0].expected} | ${f(row[0].right / row[0].found || 0)} / ${f(row[0].right / row[0].expected)} | ` +
    `${f(row[1].right / row[1].found || 0)} / ${f(row[1].right / row[1].expected)} |`);
}
if (verbose) {
  for (const s of [ours, peer]) {
    console.log(`\n${s.name}: ${s.misses.length} differences`);
    for (const m of s.misses) console.log(`  ${m}`);
  }
}
if (jsonOut) {
  const systems = [ours, peer].map(({ outputs, ...rest }) => rest);
  writeFileSync(jsonOut, JSON.stringify({ sentences, negatives, systems }, null, 1));
}
engine.terminate();
