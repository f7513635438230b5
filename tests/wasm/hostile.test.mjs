// Hostile input through the WebAssembly engine (issue 16, part 4), in Node: the inputs kept by the fuzz
// harnesses (tests/fuzz/regressions/<harness>/, every file fed as a model, as a text and to the rule recogniser),
// then inputs made here — the fixtures' tiny model and the published one cut at many points, bytes flipped in
// the GGUF header, key-values and tensor infos, garbage, GGUF files declaring huge counts, lengths and tensor
// sizes; texts of 10 MB in one word, invalid UTF-8, empty, with NUL bytes. Each must give a clean error
// (a status and a message naming what is wrong) or a correct answer, never a trap, an abort or a hang; and
// after each failure the engine still gives the same entities on a good model and text, and loads a good model
// again. The cases run in a worker thread that the test ends if one case takes longer than CASE_MS. The fuzz
// inputs, the truncations and the texts also go through the pthreads build, recognising on 2 threads.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

import { CLI, ROOT, loadEngine } from './engine.mjs';

const REGRESSIONS = process.env.SURLIGNE_FUZZ_REGRESSIONS || path.join(ROOT, 'tests/fuzz/regressions');
const PUBLISHED = path.join(ROOT, 'weights/surligne-small-fr.gguf');
const SENTENCE = 'Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.';
const CASE_MS = 60_000; // one case longer than this is a hang
const SL_ERR_UTF8 = 6;

// ---- GGUF, read far enough to know where each field is ------------------------------------------------------

// The offsets of a GGUF file's fields: the counts, each key-value (its key's length, its value), each tensor
// info (its dimensions, type, data offset) and the end of the tensor infos.
function ggufLayout(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 24;
  const u64 = () => {
    const v = Number(view.getBigUint64(at, true));
    at += 8;
    return v;
  };
  const u32 = () => {
    const v = view.getUint32(at, true);
    at += 4;
    return v;
  };
  const SIZES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
  const skip = (n) => {
    at += n;
  };
  const skipValue = (type) => {
    if (type === 8) skip(u64());
    else if (type === 9) {
      const inner = u32();
      const n = u64();
      if (inner === 8) for (let i = 0; i < n; i++) skip(u64());
      else skip(n * SIZES[inner]);
    } else skip(SIZES[type]);
  };
  const nTensors = Number(view.getBigUint64(8, true));
  const nKv = Number(view.getBigUint64(16, true));
  const kvs = [];
  for (let i = 0; i < nKv; i++) {
    const keyAt = at;
    const key = new TextDecoder().decode(bytes.subarray(at + 8, at + 8 + Number(view.getBigUint64(at, true))));
    at = keyAt + 8 + key.length;
    const typeAt = at;
    const type = u32();
    const valueAt = at;
    skipValue(type);
    kvs.push({ key, keyAt, typeAt, type, valueAt });
  }
  const tensors = [];
  for (let i = 0; i < nTensors; i++) {
    const nameAt = at;
    skip(u64());
    const nDimsAt = at;
    const nDims = u32();
    const dimsAt = at;
    at += 8 * nDims;
    const typeAt = at;
    at += 4;
    const offsetAt = at;
    at += 8;
    tensors.push({ nameAt, nDimsAt, nDims, dimsAt, typeAt, offsetAt });
  }
  return { nTensors, nKv, kvs, tensors, infoEnd: at };
}

// ---- the cases --------------------------------------------------------------------------------------------

// A small deterministic generator (mulberry32): the same cases on every run.
function random(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const patched = (bytes, edits) => {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  for (const [at, kind, value] of edits) {
    if (kind === 'u64') view.setBigUint64(at, BigInt.asUintN(64, BigInt(value)), true);
    else if (kind === 'u32') view.setUint32(at, value, true);
    else out[at] = value;
  }
  return out;
};

// Cases of one group: [{ name, kind: 'model' | 'text' | 'dates', bytes, expect? }]. A text case runs on the
// good model; expect 'utf8' means the text is not UTF-8 and must be refused as such.
function* cases(group, { good, published, variant }) {
  const enc = (s) => new TextEncoder().encode(s);
  if (group === 'regressions') {
    for (const harness of existsSync(REGRESSIONS) ? readdirSync(REGRESSIONS).sort() : []) {
      const dir = path.join(REGRESSIONS, harness);
      if (!statSync(dir).isDirectory()) continue;
      for (const file of readdirSync(dir).sort()) {
        const bytes = new Uint8Array(readFileSync(path.join(dir, file)));
        const name = `${harness}/${file}`;
        yield { name: `${name} as a model`, kind: 'model', bytes };
        yield { name: `${name} as a text`, kind: 'text', bytes, expect: 'any' };
        // fuzz_recognize's inputs: two bytes of options, then the text
        if (harness === 'recognize' && bytes.length >= 2) {
          yield { name: `${name} as options + text`, kind: 'text', bytes: bytes.subarray(2), expect: 'any',
            aggregation: bytes[0] % 5, dates: (bytes[0] >> 3) & 1, threshold: (bytes[0] >> 5) / 8, stride: (bytes[1] >> 5) & 3 };
        }
        yield { name: `${name} to the rule recogniser`, kind: 'dates', bytes, expect: 'any' };
      }
    }
  } else if (group === 'truncations') {
    // every byte of the header region, then cut points spread over the tensor data, and the last bytes
    const layout = ggufLayout(good);
    const cuts = new Set([0, 1, 3, 4, 7, 8, 15, 16, 23, 24]);
    for (let c = 24; c < layout.infoEnd; c += Math.max(1, Math.floor(layout.infoEnd / 400))) cuts.add(c);
    for (let k = 1; k < 40; k++) cuts.add(layout.infoEnd + Math.floor(((good.length - layout.infoEnd) * k) / 40));
    for (let d = 1; d <= 8; d++) cuts.add(good.length - d);
    for (const c of [...cuts].sort((a, b) => a - b)) {
      yield { name: `tiny model cut at ${c} of ${good.length} bytes`, kind: 'model', bytes: good.subarray(0, c) };
    }
    if (published) {
      const l = ggufLayout(published);
      for (const c of [12, Math.floor(l.infoEnd / 2), l.infoEnd, l.infoEnd + 1000, Math.floor(published.length / 2), published.length - 1]) {
        yield { name: `published model cut at ${c} of ${published.length} bytes`, kind: 'model', bytes: published.subarray(0, c) };
      }
    }
  } else if (group === 'flips') {
    const { infoEnd } = ggufLayout(good);
    const rand = random(16);
    for (let i = 0; i < 300; i++) {
      const edits = [];
      const n = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < n; k++) {
        const at = Math.floor(rand() * infoEnd);
        edits.push([at, 'u8', good[at] ^ (1 << Math.floor(rand() * 8)) ^ (rand() < 0.2 ? 0xff : 0)]);
      }
      yield { name: `tiny model, bytes flipped at ${edits.map((e) => e[0]).join(', ')}`, kind: 'model', bytes: patched(good, edits) };
    }
  } else if (group === 'huge') {
    const l = ggufLayout(good);
    const HUGE = [2n ** 64n - 1n, 2n ** 63n, 2n ** 62n, 2n ** 32n, 2n ** 31n, 0xffffffffn, 2n ** 40n];
    for (const v of HUGE) {
      yield { name: `tensor count ${v}`, kind: 'model', bytes: patched(good, [[8, 'u64', v]]) };
      yield { name: `key-value count ${v}`, kind: 'model', bytes: patched(good, [[16, 'u64', v]]) };
      yield { name: `first key's length ${v}`, kind: 'model', bytes: patched(good, [[l.kvs[0].keyAt, 'u64', v]]) };
      const arr = l.kvs.find((kv) => kv.type === 9);
      if (arr) yield { name: `array '${arr.key}' of ${v} items`, kind: 'model', bytes: patched(good, [[arr.valueAt + 4, 'u64', v]]) };
      const str = l.kvs.find((kv) => kv.type === 8);
      if (str) yield { name: `string '${str.key}' of ${v} bytes`, kind: 'model', bytes: patched(good, [[str.valueAt, 'u64', v]]) };
      for (const [i, t] of [[0, l.tensors[0]], [l.tensors.length - 1, l.tensors.at(-1)]]) {
        yield { name: `tensor ${i}: first dimension ${v}`, kind: 'model', bytes: patched(good, [[t.dimsAt, 'u64', v]]) };
        yield { name: `tensor ${i}: data offset ${v}`, kind: 'model', bytes: patched(good, [[t.offsetAt, 'u64', v]]) };
        yield { name: `tensor ${i}: name length ${v}`, kind: 'model', bytes: patched(good, [[t.nameAt, 'u64', v]]) };
      }
    }
    for (const t of [l.tensors[0], l.tensors.at(-1)]) {
      // every dimension at 2^21: 2^84 elements, a size that overflows 64 bits
      yield { name: `tensor of ${t.nDims} dimensions of 2^21`, kind: 'model',
        bytes: patched(good, Array.from({ length: t.nDims }, (_, d) => [t.dimsAt + 8 * d, 'u64', 2 ** 21])) };
      yield { name: 'tensor with 2^32 - 1 dimensions', kind: 'model', bytes: patched(good, [[t.nDimsAt, 'u32', 0xffffffff]]) };
      yield { name: 'tensor of type 2^31', kind: 'model', bytes: patched(good, [[t.typeAt, 'u32', 0x80000000]]) };
    }
    yield { name: 'GGUF version 0xffffffff', kind: 'model', bytes: patched(good, [[4, 'u32', 0xffffffff]]) };
    yield { name: 'first key-value of type 0xffffffff', kind: 'model', bytes: patched(good, [[l.kvs[0].typeAt, 'u32', 0xffffffff]]) };
  } else if (group === 'garbage') {
    const rand = random(4);
    for (const n of [0, 1, 3, 4, 24, 100, 4096, 1 << 20]) {
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
      yield { name: `${n} random bytes`, kind: 'model', bytes };
      if (n >= 4) {
        bytes.set(enc('GGUF'));
        yield { name: `'GGUF' then ${n - 4} random bytes`, kind: 'model', bytes: bytes.slice() };
      }
    }
    yield { name: 'an HTML error page', kind: 'model', bytes: enc('<!doctype html><title>502 Bad Gateway</title>') };
    yield { name: 'the header alone (v3, no tensor, no key)', kind: 'model',
      bytes: patched(good.subarray(0, 24), [[8, 'u64', 0], [16, 'u64', 0]]) };
    yield { name: 'the SentencePiece model', kind: 'model',
      bytes: new Uint8Array(readFileSync(path.join(ROOT, 'weights/sentencepiece.bpe.model'))) };
  } else if (group === 'texts') {
    const big = 10 * 1024 * 1024;
    yield { name: 'empty text', kind: 'text', bytes: new Uint8Array(0), expect: 'ok' };
    yield { name: 'NUL bytes alone', kind: 'text', bytes: new Uint8Array(64), expect: 'ok' };
    yield { name: 'NUL bytes inside the sentence', kind: 'text', bytes: enc(SENTENCE.replace(/ /g, '\0')), expect: 'ok' };
    yield { name: 'the sentence after a NUL', kind: 'text', bytes: enc(`\0${SENTENCE}`), expect: 'ok' };
    for (const [what, bytes] of [
      ['a lone continuation byte', [0x80]], ['a truncated 2-byte sequence', [0x41, 0xc3]], ['an overlong /', [0xc0, 0xaf]],
      ['a UTF-16 surrogate in UTF-8', [0xed, 0xa0, 0x80]], ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
      ['0xff', [0xff]], ['a truncated 4-byte sequence at the end', [...enc('Paris '), 0xf0, 0x9f, 0x98]],
    ]) {
      yield { name: `invalid UTF-8: ${what}`, kind: 'text', expect: 'utf8',
        bytes: Uint8Array.from([...enc(`${SENTENCE} `), ...bytes, ...enc(' fin')]) };
      yield { name: `invalid UTF-8 to the rule recogniser: ${what}`, kind: 'dates', bytes: Uint8Array.from(bytes), expect: 'any' };
    }
    const word = (unit, bytes = big) => enc(unit.repeat(Math.floor(bytes / enc(unit).length)));
    // U+E000 (private use, 3 bytes): no piece of the vocabulary, one unknown token however long the word
    yield { name: '10 MB of one word of a character no piece covers', kind: 'text', bytes: word('\ue000'), expect: 'ok' };
    yield { name: '10 MB of one word, cut inside its last character', kind: 'text', expect: 'utf8',
      bytes: enc('\ue000'.repeat(big / 3 + 1)).subarray(0, big) };
    yield { name: '10 MB of one word of letters, to the rule recogniser', kind: 'dates', bytes: word('a'), expect: 'ok' };
    yield { name: '10 MB of digits, to the rule recogniser', kind: 'dates', bytes: word('7'), expect: 'ok' };
    // a word of letters is many tokens, so many windows of the model: 64 kB keeps the case short (finding which
    // windows hold a token is quadratic in the text until the fuzz branch's ner.c change: 1 MB takes 42 s here)
    yield { name: '64 kB of one word of accented letters', kind: 'text', bytes: word('é', 64 * 1024), expect: 'ok' };
    yield { name: 'unknown aggregation 99', kind: 'text', bytes: enc(SENTENCE), aggregation: 99, expect: 'error' };
    yield { name: 'threshold NaN', kind: 'text', bytes: enc(SENTENCE), threshold: NaN, expect: 'ok' };
    yield { name: 'threshold 2 (above every score)', kind: 'text', bytes: enc(SENTENCE), threshold: 2, expect: 'ok' };
    yield { name: 'stride 100000', kind: 'text', bytes: enc(SENTENCE), stride: 100000, expect: 'error' };
    yield { name: 'two threads asked of the single-thread build', kind: 'text', bytes: enc(SENTENCE), threads: 2,
      expect: variant ? 'ok' : 'error' };
    yield { name: '64 threads asked', kind: 'text', bytes: enc(SENTENCE), threads: 64, expect: 'error' };
  }
}

// ---- the worker: runs one group, reports each case before running it ---------------------------------------

// variant '' is the single-thread build; '-mt' the pthreads build, whose recognitions run on 2 threads.
async function runGroup({ group, goodPath, publishedPath, variant = '' }) {
  const threads = variant ? 2 : 1;
  const load = () => loadEngine(variant, { poolSize: 2 });
  const good = new Uint8Array(readFileSync(goodPath));
  const published = publishedPath ? new Uint8Array(readFileSync(publishedPath)) : null;
  let engine = await load();
  let model = engine.load(good);
  const reference = JSON.stringify(model.recognize(SENTENCE));
  const failures = [];
  let n = 0;

  const call = (fn) => {
    const M = engine.M;
    try {
      return { value: fn(M) };
    } catch (err) {
      return { thrown: `${err?.name}: ${err?.message}` }; // a trap or an abort: the module is dead
    }
  };
  const raw = (M, bytes, run) => {
    const p = M._malloc(bytes.length + 1);
    if (!p) throw new Error(`malloc(${bytes.length + 1}) failed`);
    try {
      M.HEAPU8.set(bytes, p);
      const json = run(p);
      if (json) return { json: JSON.parse(M.UTF8ToString(json)) };
      return { status: M._sl_wasm_last_status(), message: M.UTF8ToString(M._sl_wasm_last_error()) };
    } finally {
      M._free(p);
    }
  };
  const inText = (entities, len) => Array.isArray(entities) && entities.every((e) => typeof e.label === 'string' &&
    e.label && Number.isInteger(e.start) && Number.isInteger(e.end) && e.start >= 0 && e.start < e.end && e.end <= len &&
    e.score >= 0 && e.score <= 1.0001);
  const sentence = new TextEncoder().encode(SENTENCE);

  for (const c of cases(group, { good, published, variant })) {
    parentPort.postMessage({ start: c.name });
    n++;
    let failed = false;
    const fail = (why) => {
      failures.push(`${c.name}: ${why}`);
      parentPort.postMessage({ failure: `${c.name}: ${why}` }); // kept by the test if this worker is ended later
      failed = true;
    };
    const t0 = performance.now();
    let out;
    if (c.kind === 'model') {
      out = call((M) => {
        const p = M._malloc(Math.max(1, c.bytes.length));
        if (!p) return { status: -1, message: 'malloc failed' };
        M.HEAPU8.set(c.bytes, p);
        const h = M._sl_wasm_load(p, c.bytes.length);
        if (!h) return { status: M._sl_wasm_last_status(), message: M.UTF8ToString(M._sl_wasm_last_error()) };
        try {
          // a model that loads must answer, or refuse in words
          const r = raw(M, sentence, (t) => M._sl_wasm_recognize(h, t, sentence.length, 2, 0, -1, threads, 1));
          return { loaded: true, ...r };
        } finally {
          M._sl_wasm_free(h);
        }
      });
      if (out.thrown) fail(`the engine trapped: ${out.thrown}`);
      else if (!out.value.loaded) {
        const { status, message } = out.value;
        if (!(status > 0) || !/^model: \S/.test(message)) fail(`refused without a clear error: status ${status}, '${message}'`);
        else failed = true; // a clean refusal: the engine is checked below
      } else if (out.value.json && !inText(out.value.json, sentence.length)) {
        fail(`loaded, then entities outside the text: ${JSON.stringify(out.value.json).slice(0, 300)}`);
      } else if (!out.value.json && !(out.value.status > 0 && out.value.message)) {
        fail(`loaded, then a recognition failed without a message: ${JSON.stringify(out.value)}`);
      }
    } else {
      out = call((M) => raw(M, c.bytes, (t) => (c.kind === 'dates' ? M._sl_wasm_dates(t, c.bytes.length)
        : M._sl_wasm_recognize(model.h, t, c.bytes.length, c.aggregation ?? 2, c.threshold ?? 0, c.stride ?? -1,
          c.threads ?? threads, c.dates ?? 1))));
      if (out.thrown) fail(`the engine trapped: ${out.thrown}`);
      else if (out.value.json) {
        if (!inText(out.value.json, c.bytes.length)) fail(`entities outside the text: ${JSON.stringify(out.value.json).slice(0, 300)}`);
        if (c.expect === 'utf8' || c.expect === 'error') fail(`accepted: ${JSON.stringify(out.value.json).slice(0, 200)}`);
      } else {
        const { status, message } = out.value;
        if (!(status > 0) || !message) fail(`failed without a clear error: status ${status}, '${message}'`);
        else if (c.expect === 'ok') fail(`refused: ${message}`);
        else if (c.expect === 'utf8' && (status !== SL_ERR_UTF8 || !/UTF-8/.test(message))) {
          fail(`not refused as invalid UTF-8: ${status} '${message}'`);
        }
        failed = true;
      }
    }
    const ms = performance.now() - t0;
    if (out.thrown) {
      // the module aborted: a fresh one for the next cases (the failure is already counted)
      try { engine.terminate(); } catch { /* the aborted module may not answer */ }
      engine = await load();
      model = engine.load(good);
    } else if (failed || n % 25 === 0) {
      // the engine after a failure: the same entities on the good model, and a good model loads again
      const again = call(() => {
        const same = JSON.stringify(model.recognize(SENTENCE));
        const fresh = engine.load(good);
        const other = JSON.stringify(fresh.recognize(SENTENCE));
        fresh.free();
        return [same, other];
      });
      if (again.thrown || again.value[0] !== reference || again.value[1] !== reference) {
        failures.push(`${c.name}: the engine is not the same afterwards: ${again.thrown || again.value.join(' / ')}`);
        parentPort.postMessage({ failure: failures.at(-1) });
      }
    }
    parentPort.postMessage({ done: c.name, ms, refused: Boolean(out.value && !out.value.json && !out.value.loaded) });
  }
  parentPort.postMessage({ end: true, n, failures });
}

if (!isMainThread && workerData?.hostile) {
  runGroup(workerData).catch((err) => parentPort.postMessage({ end: true, n: 0, failures: [`the group stopped: ${err.stack}`] }));
}

// ---- the tests --------------------------------------------------------------------------------------------

let dir;
let goodPath;

// Runs a group in a worker thread; resolves to { n, failures, slowest }; a case over CASE_MS ends the worker.
function group(name, variant = '') {
  return new Promise((resolve) => {
    const worker = new Worker(new URL(import.meta.url), {
      workerData: { hostile: true, group: name, goodPath, publishedPath: existsSync(PUBLISHED) ? PUBLISHED : null,
        variant },
    });
    let current = null;
    let timer = null;
    let slowest = { ms: 0 };
    let refused = 0;
    let started = 0;
    const seen = []; // the failures reported so far
    const finish = ({ n = started, failures = [] }) => {
      clearTimeout(timer);
      worker.removeAllListeners();
      worker.terminate();
      resolve({ slowest, refused, n, failures: [...new Set([...seen, ...failures])] });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish({ failures: [`${current}: no answer in ${CASE_MS / 1000} s (a hang)`] }), CASE_MS);
    };
    arm();
    worker.on('message', (m) => {
      if (m.start) {
        current = m.start;
        started++;
      }
      if (m.failure) seen.push(m.failure);
      if (m.done) {
        if (m.ms > slowest.ms) slowest = { ms: m.ms, name: m.done };
        refused += m.refused;
      }
      if (m.end) finish({ n: m.n, failures: m.failures });
      else arm();
    });
    worker.on('error', (err) => finish({ failures: [`${current}: the worker died: ${err.stack}`] }));
    worker.on('exit', (code) => finish({ failures: [`${current}: the worker exited (code ${code})`] }));
  });
}

if (isMainThread) {
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'surligne-hostile-'));
    goodPath = path.join(dir, 'tiny.gguf');
    execFileSync(CLI, ['convert', path.join(ROOT, 'tests/fixtures/tiny-hf'), '-o', goodPath], { stdio: 'pipe' });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [name, what, variant = ''] of [
    ['regressions', 'the inputs kept by the fuzz harnesses (tests/fuzz/regressions/)'],
    ['truncations', 'models cut at many points'],
    ['flips', 'bytes flipped in the GGUF header, key-values and tensor infos'],
    ['huge', 'GGUF files declaring huge counts, lengths, dimensions and offsets'],
    ['garbage', 'garbage, random bytes after the GGUF magic, other files'],
    ['texts', 'texts of 10 MB in one word, invalid UTF-8, empty, NUL bytes; bad options'],
    // the pthreads build: the same inputs recognised on 2 threads (its worker pool must survive each failure)
    ['regressions', 'the fuzz inputs, pthreads build (2 threads)', '-mt'],
    ['truncations', 'models cut at many points, pthreads build (2 threads)', '-mt'],
    ['texts', 'the hostile texts and options, pthreads build (2 threads)', '-mt'],
  ]) {
    test(`hostile input to the wasm engine: ${what}`, { skip: name === 'regressions' && !existsSync(REGRESSIONS) &&
      'no tests/fuzz/regressions/ in this checkout (they come with the fuzz harnesses)' }, async () => {
      const r = await group(name, variant);
      console.log(`# ${name}${variant}: ${r.n} cases, ${r.refused} refused cleanly; slowest ${Math.round(r.slowest.ms)} ms (${r.slowest.name})`);
      assert.deepEqual(r.failures, []);
      assert.ok(r.n > 0 || name === 'regressions', `no case ran in ${name}`);
    });
  }
}

// The JS API under Node (web/node/surligne.js, the engine in a worker thread): a file that is not a model
// rejects the promise with code 'model' and a message naming the file and what is wrong; the next load works.
if (isMainThread) {
  test('the Node API: a garbage model rejects with a clear error, then a good model loads and answers', async () => {
    const { Surligne } = await import('../../web/node/surligne.js');
    const wasmBase = path.join(ROOT, 'build-wasm/dist/');
    const bad = path.join(dir, 'garbage.gguf');
    const cut = path.join(dir, 'cut.gguf');
    writeFileSync(bad, Buffer.from('<!doctype html><title>502 Bad Gateway</title>'));
    writeFileSync(cut, readFileSync(goodPath).subarray(0, 2_000_000));
    for (const [file, why] of [[bad, /not a GGUF file/], [cut, /runs past the end of the file/]]) {
      const err = await Surligne.load(file, { wasmBase, threads: 1 }).then(() => null, (e) => e);
      assert.ok(err, `${file} loaded`);
      assert.equal(err.code, 'model');
      assert.match(err.message, new RegExp(path.basename(file)));
      assert.match(err.message, why);
    }
    const ner = await Surligne.load(goodPath, { wasmBase, threads: 1 });
    try {
      const entities = await ner.recognize(SENTENCE);
      const engine = await loadEngine('');
      const model = engine.load(new Uint8Array(readFileSync(goodPath)));
      assert.deepEqual(entities.map((e) => [e.label, e.text]), model.recognize(SENTENCE).map((e) => [e.label,
        Buffer.from(SENTENCE).subarray(e.start, e.end).toString()]));
      model.free();
    } finally {
      ner.dispose();
    }
  });
}
