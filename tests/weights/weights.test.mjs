// The published models: every file listed in weights/models.json exists with its size and sha256, the
// default model loads in the native program and finds the two people of the sample sentence (PER, score >= 0.9)
// and nothing else among its own types: "ministre de la justice" is no entity.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('weights/models.json', root), 'utf8'));
const cli = process.env.SURLIGNE_CLI || new URL('build/surligne', root).pathname;

test('models.json lists files with their size and sha256', () => {
  assert.ok(manifest.models.some((m) => m.name === manifest.default), 'the default model is listed');
  for (const m of manifest.models) {
    for (const key of ['name', 'file', 'sha256', 'bytes', 'labels', 'dev_f1']) assert.ok(key in m, `${m.name}: ${key}`);
    const bytes = readFileSync(new URL(`weights/${m.file}`, root));
    assert.equal(bytes.length, m.bytes, `${m.file}: size`);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), m.sha256, `${m.file}: sha256`);
  }
});

test('the default model finds both people of the sample sentence and nothing else', () => {
  const text = 'Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.';
  const out = execFileSync(cli, ['ner'], { input: text, cwd: new URL('.', root).pathname, encoding: 'utf8' });
  const ents = out.trim().split('\n').map((l) => JSON.parse(l));
  const model = manifest.models.find((m) => m.name === manifest.default);
  const own = ents.filter((e) => model.labels.includes(e.label));
  assert.deepEqual(own.map((e) => e.text), ['Gérald Darmanin', 'Nicolas Sarkozy'], `the model's entities: ${out}`);
  for (const name of ['Gérald Darmanin', 'Nicolas Sarkozy']) {
    const e = ents.find((x) => x.text === name);
    assert.ok(e, `${name} found (entities: ${out})`);
    assert.equal(e.label, 'PER', `${name} is PER`);
    assert.ok(e.score >= 0.9, `${name} scores ${e.score} >= 0.9`);
    assert.equal(Buffer.from(text).subarray(e.start, e.end).toString(), name, `${name}: byte offsets`);
  }
});
