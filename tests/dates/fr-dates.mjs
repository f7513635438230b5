// Reads the test set of the rule recogniser, tests/dates/fr-dates.tsv (its format: the file's opening
// comment), for the Node, browser and comparison scripts: [{ line, text, entities: [{ label, text, value,
// start, end }] }] with UTF-16 start/end into text (text.slice(start, end) is the span) and value null where
// the set says "-".
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEST_SET = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fr-dates.tsv');

export function readTestSet(file = TEST_SET) {
  const sentences = [];
  readFileSync(file, 'utf8').split('\n').forEach((raw, i) => {
    if (!raw || raw.startsWith('#')) return;
    const [text, ...fields] = raw.split('\t');
    if (fields.length % 3) throw new Error(`${file}:${i + 1}: fields after the sentence are not triples`);
    const entities = [];
    let from = 0;
    for (let k = 0; k < fields.length; k += 3) {
      const start = text.indexOf(fields[k + 1], from);
      if (start < 0) throw new Error(`${file}:${i + 1}: '${fields[k + 1]}' is not in the sentence`);
      const end = start + fields[k + 1].length;
      entities.push({ label: fields[k], text: fields[k + 1], value: fields[k + 2] === '-' ? null : fields[k + 2], start, end });
      from = end;
    }
    sentences.push({ line: i + 1, text, entities });
  });
  return sentences;
}

// UTF-8 byte offset -> UTF-16 index in text (the engine's offsets are bytes).
export function utf16Index(text, byteOffset) {
  return Buffer.from(text, 'utf8').subarray(0, byteOffset).toString('utf8').length;
}

// The merge rule of the engine (engine/dates.c, sl_dates_merge), for checking what it returns: whether the
// model's entity a holds the rule's entity b whole and more, the more having a word other than a preposition
// or an article ("Mai 68" around "Mai" does; "en 2015" around "2015" does not: the date wins there).
const FUNCTION_WORDS = new Set(['le', 'la', 'les', 'l', 'de', 'du', 'des', 'd', 'en', 'au', 'aux', 'à', 'dès',
  'depuis', 'vers', 'et', 'un', 'une']);
export function holdsName(text, a, b) {
  if (!(a.start <= b.start && b.end <= a.end && a.end - a.start > b.end - b.start)) return false;
  const more = `${text.slice(a.start, b.start)} ${text.slice(b.end, a.end)}`;
  return more.split(/[\s\p{P}]+/u).filter(Boolean).some((w) => !FUNCTION_WORDS.has(w.toLowerCase()));
}
