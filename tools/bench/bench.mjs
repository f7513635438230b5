// The comparison benchmark: surligne against onnxruntime (what transformers.js runs), on one random
// camembert-base-shaped token-classification model, in WebAssembly (Node and Chromium) and natively.
// See README.md, "Speed".
//
//   node tools/bench/bench.mjs DIR [--seq 32,128,512] [--threads 1,2] [--repeat 10] [--warmup 2] [--budget 20]
//                              [--settings node,chromium,native] [--rounds 1]
//
// DIR holds model.gguf + model-q8_0.gguf (surligne) and model.onnx + model_int8.onnx (onnxruntime), made from
// one checkpoint by tools/bench.sh (tools/reference/export_onnx.py, surligne convert, surligne quantize).
// Each engine and thread count runs in its own process, one after the other; --settings picks among
//   node:     onnxruntime-web (wasm backend, SIMD, ort.env.wasm.numThreads) beside surligne's wasm build
//             (surligne.wasm at one thread, surligne-mt.wasm at two), fp32/f32 and int8/q8_0, in Node
//             (tools/bench/run.mjs);
//   chromium: the same two in a Web Worker of a cross-origin-isolated page of headless Chromium, one
//             browser per engine and thread count (tools/bench/browser.mjs, tools/bench/worker.mjs);
//   native:   `surligne bench` beside onnxruntime-node (CPU execution provider, intraOpNumThreads).
// Every timing is the median of --repeat forward passes after --warmup ones, batch 1, on a French text of
// exactly seq tokens (<s> and </s> included); fewer (at least 3) where the --repeat runs would take more than
// --budget seconds (0: no limit; `surligne bench` always does --repeat): the slow wasm runs at 512 tokens,
// which keeps the whole run near a quarter of an hour on 2 cores.
// --rounds R runs each pair (onnxruntime, surligne) at each thread count R times, in turn and in alternating
// order (O S, S O, ...), and reports the median of the R medians: this machine's speed drifts by 10-20 % over
// minutes, and a ratio of two processes run one after the other takes the drift with it.
// Then the logits of the same inputs are compared.
// Writes DIR/results.json and DIR/results.md (the table in Markdown) besides printing it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = process.env.SURLIGNE_CLI || path.join(ROOT, 'build/surligne');
const RUN = path.join(ROOT, 'tools/bench/run.mjs');
const BROWSER = path.join(ROOT, 'tools/bench/browser.mjs');
const SETTINGS = ['node', 'chromium', 'native'];

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : args[i + 1];
};
const dir = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
if (!dir) {
  console.error('usage: node tools/bench/bench.mjs DIR [--seq 32,128,512] [--threads 1,2] [--repeat 10] [--warmup 2] ' +
    '[--budget 20] [--settings node,chromium,native] [--rounds 1]');
  process.exit(2);
}
const settings = option('--settings', SETTINGS.join(',')).split(',');
if (settings.some((x) => !SETTINGS.includes(x))) {
  console.error(`bench.mjs: --settings takes a list of ${SETTINGS.join(', ')}`);
  process.exit(2);
}
const seqs = option('--seq', '32,128,512').split(',').map(Number);
const threadCounts = option('--threads', '1,2').split(',').map(Number);
const repeat = Number(option('--repeat', 10));
const warmup = Number(option('--warmup', 2));
const budget = Number(option('--budget', 20));
const rounds = Math.max(1, Number(option('--rounds', 1)));
const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y);
  return a.length % 2 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
};
const M = {
  f32: path.join(dir, 'model.gguf'),
  q8_0: path.join(dir, 'model-q8_0.gguf'),
  fp32: path.join(dir, 'model.onnx'),
  int8: path.join(dir, 'model_int8.onnx'),
};
const log = (s) => process.stderr.write(s + '\n');

// ---- inputs: French text of exactly seq tokens, and its ids -------------------------------------------
const FRENCH = ("Le président de la République a reçu à l'Élysée les représentants de la SNCF et d'Airbus, " +
  'venus de Toulouse avec Marie Dupont, la maire de Lyon, pour parler du Grand Paris Express et de la ' +
  "ligne à grande vitesse entre Bordeaux et l'Espagne, que la Commission européenne finance en partie.").split(' ');
function inputsFor(seq) {
  for (let start = 0; start < FRENCH.length; start++) {
    const lines = Array.from({ length: seq }, (_, n) =>
      Array.from({ length: n + 1 }, (_, i) => FRENCH[(start + i) % FRENCH.length]).join(' '));
    const out = execFileSync(CLI, ['tokenize', '-m', M.f32], { input: lines.join('\n') + '\n', encoding: 'utf8' });
    const ids = out.trim().split('\n').map((l) => l.trim().split(/\s+/).map(Number));
    const k = ids.findIndex((x) => x.length === seq);
    if (k >= 0) return { seq, text: lines[k], ids: ids[k] };
  }
  throw new Error(`no text of exactly ${seq} tokens`);
}
const inputs = seqs.map(inputsFor);
writeFileSync(path.join(dir, 'inputs.json'), JSON.stringify(inputs));
// the children read a copy of their own: another run on the same DIR may rewrite DIR/inputs.json meanwhile
const tmp = mkdtempSync(path.join(os.tmpdir(), 'surligne-bench-'));
const inputsPath = path.join(tmp, 'inputs.json');
writeFileSync(inputsPath, JSON.stringify(inputs));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// ---- runs ----------------------------------------------------------------------------------------------
const rows = []; // {setting, engine, precision, threads, seq, median}; setting: node, chromium or native
const logits = {}; // key ('ort-web/fp32', 'ort-web-chromium/int8', 'surligne-wasm/q8_0', ...) -> seq -> flat array
function child(setting, engine, threads, models) {
  log(`bench: ${{ node: 'Node', chromium: 'Chromium', native: 'native' }[setting]}, ${engine}, ${threads} thread(s) ...`);
  const out = execFileSync(process.execPath, [setting === 'chromium' ? BROWSER : RUN, engine, String(threads),
    inputsPath, models.join(','), '--repeat', String(repeat), '--warmup', String(warmup), '--budget', String(budget)],
  { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'inherit'] });
  const r = JSON.parse(out.trim().split('\n').pop());
  // Chromium: the thread check, and the CPU time Chromium used over the wall-clock time of each timed loop
  if (setting === 'chromium') log(`bench:   ${r.info}; CPU/wall ${r.results.map((x) => x.cpu).join(' ')}`);
  const key = setting === 'chromium' ? `${engine}-chromium` : engine;
  for (const x of r.results) {
    const precision = Object.keys(M).find((k) => M[k] === x.model);
    rows.push({ setting, engine, precision, threads, seq: x.seq, median: x.median, runs: x.times.length,
      ...(x.cpu !== undefined && { cpu: x.cpu }) });
    if (x.logits) ((logits[`${key}/${precision}`] ??= {})[x.seq] = x.logits);
  }
  return r.info;
}
function nativeSurligne(precision, threads) {
  log(`bench: surligne native ${precision}, ${threads} thread(s) ...`);
  // `surligne bench` warms up once itself; extra warm-up runs are folded in as a longer run
  const out = execFileSync(CLI, ['bench', '-m', M[precision], '--seq', seqs.join(','), '--threads', String(threads),
    '--repeat', String(repeat)], { encoding: 'utf8' });
  for (const line of out.trim().split('\n')) {
    const m = line.match(/seq=(\d+)\s+median\s+([\d.]+) ms/);
    if (m) rows.push({ setting: 'native', engine: 'surligne', precision, threads, seq: Number(m[1]), median: Number(m[2]) });
  }
}

const t0 = Date.now();
const load0 = os.loadavg();
let ortVersion = '';
let chromiumVersion = '';
// the pair of a setting and thread count, `rounds` times, onnxruntime first in even rounds
function pair(ort, surligne) {
  for (let r = 0; r < rounds; r++) for (const run of r % 2 ? [surligne, ort] : [ort, surligne]) run();
}
for (const setting of ['node', 'chromium'].filter((x) => settings.includes(x))) {
  for (const t of threadCounts) {
    pair(() => {
      const info = child(setting, 'ort-web', t, [M.fp32, M.int8]);
      ortVersion = info.split(';')[0];
      chromiumVersion = info.match(/Chromium [\d.]+/)?.[0] ?? chromiumVersion;
    }, () => child(setting, 'surligne-wasm', t, [M.f32, M.q8_0]));
  }
}
if (settings.includes('native')) {
  for (const t of threadCounts) {
    pair(() => { ortVersion = child('native', 'ort-node', t, [M.fp32, M.int8]); },
      () => { nativeSurligne('f32', t); nativeSurligne('q8_0', t); });
  }
}
const load1 = os.loadavg();
const seconds = (Date.now() - t0) / 1e3;

// ---- logits agreement ----------------------------------------------------------------------------------
function surligneLogits(precision) {
  const out = execFileSync(CLI, ['logits', '-m', M[precision]], {
    input: inputs.map((x) => x.ids.join(' ')).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 28 });
  const lines = out.trim().split('\n');
  return Object.fromEntries(inputs.map((x, i) => [x.seq, JSON.parse(lines[i]).flat()]));
}
logits['surligne/f32'] = surligneLogits('f32');
logits['surligne/q8_0'] = surligneLogits('q8_0');
const nLabels = logits['surligne/f32'][seqs[0]].length / seqs[0];
const maxAbs = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const argmax = (a) => Array.from({ length: a.length / nLabels }, (_, t) => {
  let best = 0;
  for (let j = 1; j < nLabels; j++) if (a[t * nLabels + j] > a[t * nLabels + best]) best = j;
  return best;
});
const agree = (a, b) => {
  const x = argmax(a), y = argmax(b);
  return x.filter((v, i) => v === y[i]).length;
};
// fp32 reference: onnxruntime-node's when it ran, else surligne's (native) f32
const ref = logits['ort-node/fp32'] ? 'ort-node/fp32' : 'surligne/f32';
const pairs = [
  ['surligne/f32', 'ort-node/fp32'], ['surligne/f32', 'ort-web/fp32'], ['surligne/f32', 'ort-web-chromium/fp32'],
  ['ort-web/fp32', 'ort-node/fp32'], ['ort-web-chromium/fp32', 'ort-node/fp32'],
  ['surligne/q8_0', ref], ['ort-node/int8', ref], ['ort-web/int8', ref], ['ort-web-chromium/int8', ref],
  ['surligne/q8_0', 'ort-node/int8'], ['ort-web-chromium/int8', 'ort-web/int8'],
  // surligne's wasm builds against its native build, where the wasm build returns logits (sl_wasm_logits)
  ['surligne-wasm/f32', 'surligne/f32'], ['surligne-wasm-chromium/f32', 'surligne/f32'],
  ['surligne-wasm/q8_0', 'surligne/q8_0'], ['surligne-wasm-chromium/q8_0', 'surligne/q8_0'],
  ['surligne-wasm-chromium/q8_0', ref],
];
const agreement = pairs.filter(([a, b]) => logits[a] && logits[b]).map(([a, b]) => ({
  a, b,
  maxAbs: Math.max(...seqs.map((s) => maxAbs(logits[a][s], logits[b][s]))),
  argmax: seqs.map((s) => `${agree(logits[a][s], logits[b][s])}/${s}`).join(' '),
}));

// ---- table ---------------------------------------------------------------------------------------------
// one figure per (setting, engine, precision, threads, seq): the median of its rounds' medians
const find = (setting, engine, precision, threads, seq) => {
  const all = rows.filter((r) => r.setting === setting && r.engine === engine && r.precision === precision &&
    r.threads === threads && r.seq === seq);
  return all.length ? { median: median(all.map((r) => r.median)) } : undefined;
};
const fmtMs = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const table = [
  '| build | precision | threads | seq | surligne ms | surligne tok/s | onnxruntime ms | onnxruntime tok/s | surligne / onnxruntime |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
];
for (const [setting, ortEngine, sEngine, label] of [
  ['node', 'ort-web', 'surligne-wasm', 'wasm (Node) vs onnxruntime-web'],
  ['chromium', 'ort-web', 'surligne-wasm', 'wasm (Chromium) vs onnxruntime-web'],
  ['native', 'ort-node', 'surligne', 'native vs onnxruntime-node']]) {
  for (const [sp, op] of [['f32', 'fp32'], ['q8_0', 'int8']]) {
    for (const t of threadCounts) {
      for (const s of seqs) {
        const a = find(setting, sEngine, sp, t, s), b = find(setting, ortEngine, op, t, s);
        if (!a || !b) continue;
        table.push(`| ${label} | ${sp} / ${op} | ${t} | ${s} | ${fmtMs(a.median)} | ${Math.round(s / a.median * 1e3)} | ` +
          `${fmtMs(b.median)} | ${Math.round(s / b.median * 1e3)} | ${(a.median / b.median).toFixed(2)} |`);
      }
    }
  }
}
const agreeTable = ['| logits | max abs diff | argmax agreement (tokens, per seq) |', '| --- | ---: | --- |',
  ...agreement.map((x) => `| ${x.a} vs ${x.b} | ${x.maxAbs.toExponential(1)} | ${x.argmax} |`)];
const cpu = os.cpus()[0]?.model ?? '?';
const cut = rows.filter((r) => r.runs && r.runs < repeat);
const fewer = cut.length ? `; ${cut.length} timings of ${Math.min(...cut.map((r) => r.runs))}–` +
  `${Math.max(...cut.map((r) => r.runs))} runs, as many as fit in ${budget} s` : '';
const header = `${os.cpus().length} × ${cpu}, Node ${process.version}${chromiumVersion ? `, ${chromiumVersion}` : ''}, ` +
  `onnxruntime-web/-node ${ortVersion.replace('onnxruntime ', '')}; ` +
  `OpenBLAS core type ${process.env.OPENBLAS_CORETYPE || 'auto'}; ` +
  `median of ${repeat} after ${warmup} warm-up (surligne native: 1${fewer})` +
  `${rounds > 1 ? `, median of ${rounds} rounds in alternating order` : ''}, batch 1; load average ` +
  `${load0[0].toFixed(2)} before, ${load1[0].toFixed(2)} after; ${seconds.toFixed(0)} s`;
const md = [header, '', ...table, '', ...agreeTable].join('\n') + '\n';
console.log(md);
writeFileSync(path.join(dir, 'results.md'), md);
writeFileSync(path.join(dir, 'results.json'), JSON.stringify({ header, rows, agreement, inputs: inputs.map(
  ({ seq, text }) => ({ seq, text })) }, null, 1));
