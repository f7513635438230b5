// One engine at one thread count, in its own Node process (spawned by tools/bench/bench.mjs, which prints the
// table): times a forward pass of each model on each benchmark sequence and writes one JSON object to stdout.
//
//   node tools/bench/run.mjs ENGINE THREADS INPUTS.json MODEL[,MODEL...] [--repeat N] [--warmup N] [--budget S]
//
// ENGINE: ort-web (onnxruntime-web, wasm backend, SIMD), ort-node (onnxruntime-node, CPU execution provider)
// or surligne-wasm (build-wasm/dist-test/node/surligne.cjs at one thread, surligne-mt.cjs beyond).
// INPUTS.json: [{seq, ids: [...], text}] — the token ids the ORT engines run on, and the French text that
// surligne's wasm build tokenises into exactly those ids (its API takes text: the time includes tokenising
// and decoding entities, small beside the forward pass).
// --budget S: the timed runs stop before --repeat once they have taken S seconds, if at least 3 were done
// (0: no limit). Output: {engine, threads, results: [{model, seq, times: [ms...], median, logits?}]}; logits,
// flattened, for the agreement check: the last run's (ORT), or sl_wasm_logits's where the wasm build has it
// (untimed).
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { surligneLogits } from './logits.mjs';

const [engine, threadsArg, inputsPath, modelsArg, ...rest] = process.argv.slice(2);
const option = (name, fallback) => {
  const i = rest.indexOf(name);
  return i < 0 ? fallback : Number(rest[i + 1]);
};
const threads = Number(threadsArg);
const repeat = option('--repeat', 10);
const warmup = option('--warmup', 2);
const budget = option('--budget', 0) * 1e3;
const enough = (times) => times.length >= repeat ||
  (budget > 0 && times.length >= 3 && times.reduce((a, b) => a + b, 0) >= budget);
const inputs = JSON.parse(readFileSync(inputsPath, 'utf8'));
const models = modelsArg.split(',');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function time(fn) {
  for (let i = 0; i < warmup; i++) fn();
  const times = [];
  while (!enough(times)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times;
}

async function timeAsync(fn) {
  let out;
  for (let i = 0; i < warmup; i++) out = await fn();
  const times = [];
  while (!enough(times)) {
    const t0 = performance.now();
    out = await fn();
    times.push(performance.now() - t0);
  }
  return { times, out };
}


const results = [];
let info = '';
if (engine === 'ort-web' || engine === 'ort-node') {
  let ort;
  let sessionOptions;
  if (engine === 'ort-web') {
    ort = await import('onnxruntime-web');
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.simd = true; // the only build 1.19+ ships; kept for older versions
    ort.env.logLevel = 'error';
    sessionOptions = { executionProviders: ['wasm'] };
  } else {
    ort = await import('onnxruntime-node');
    sessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 };
  }
  info = `onnxruntime ${ort.env.versions?.common ?? ''}`;
  for (const model of models) {
    const session = await ort.InferenceSession.create(readFileSync(model), sessionOptions);
    for (const { seq, ids } of inputs) {
      const feeds = {
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, seq]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(seq).fill(1n), [1, seq]),
      };
      const { times, out } = await timeAsync(() => session.run(feeds));
      results.push({ model, seq, times, median: median(times), logits: Array.from(out.logits.data) });
    }
    await session.release();
  }
} else if (engine === 'surligne-wasm') {
  const { loadEngine, TEST_DIST } = await import('../../tests/wasm/engine.mjs');
  const variant = threads > 1 ? '-mt' : '';
  // the builds with sl_wasm_logits (the same engine as the shipped ones), for the agreement check
  const wasm = await loadEngine(variant, { poolSize: Math.max(threads - 1, 1), dist: TEST_DIST });
  info = `surligne${variant}.wasm`;
  for (const model of models) {
    const m = wasm.load(readFileSync(model));
    for (const { seq, text } of inputs) {
      const times = time(() => m.recognize(text, { threads }));
      results.push({ model, seq, times, median: median(times), logits: surligneLogits(wasm.M, m.h, text, seq) });
    }
    m.free();
  }
  wasm.terminate();
} else {
  console.error(`run.mjs: unknown engine '${engine}' (ort-web, ort-node, surligne-wasm)`);
  process.exit(2);
}
process.stdout.write(JSON.stringify({ engine, threads, info, results }) + '\n');
