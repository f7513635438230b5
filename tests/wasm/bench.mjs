// Latency of the WebAssembly engine in Node, beside the native engine measured in the same run.
//
//   node tests/wasm/bench.mjs MODEL.gguf [--seq 128] [--threads 1] [--repeat 10]
//
// Times sl_wasm_recognize on a French text of exactly seq tokens (<s> and </s> included): one forward
// pass, plus tokenising and decoding (small beside it). The native figure is `surligne bench` (forward only).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import { CLI, loadEngine } from './engine.mjs';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : Number(args[i + 1]);
};
const modelPath = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--')));
if (!modelPath) {
  console.error('usage: node tests/wasm/bench.mjs MODEL.gguf [--seq 128] [--threads 1] [--repeat 10]');
  process.exit(2);
}
const seq = option('--seq', 128);
const threads = option('--threads', 1);
const repeat = option('--repeat', 10);

// The longest run of words that is at most seq tokens (<s> and </s> included): the CLI tokenizes every
// candidate in one call, a line each.
const WORDS = "Le président de la République a reçu à l'Élysée les représentants de la SNCF et d'Airbus venus de Toulouse".split(' ');
const candidates = Array.from({ length: 2 * seq }, (_, n) =>
  Array.from({ length: n + 1 }, (_, i) => WORDS[i % WORDS.length]).join(' '));
const counts = execFileSync(CLI, ['tokenize', '-m', modelPath], { input: candidates.join('\n') + '\n', encoding: 'utf8' })
  .trim().split('\n').map((line) => line.trim().split(/\s+/).length);
const best = counts.reduce((b, c, i) => (c <= seq ? i : b), 0);
const text = candidates[best];
const tokens = counts[best];

const bytes = readFileSync(modelPath);
const native = execFileSync(CLI, ['bench', '-m', modelPath, '--seq', String(seq), '--threads', String(threads)],
  { encoding: 'utf8' }).trim();
console.log(`model ${modelPath} (${(bytes.length / 1e6).toFixed(1)} MB), ${tokens} tokens, ${threads} thread(s)`);
console.log(`native: ${native.split('\n').join('\n        ')}`);
for (const variant of threads > 1 ? ['-mt'] : ['', '-mt']) {
  const engine = await loadEngine(variant, { poolSize: Math.max(threads - 1, 1) });
  const model = engine.load(bytes);
  model.recognize(text, { threads }); // warm-up: sizes the arena
  const times = [];
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    model.recognize(text, { threads });
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(`wasm surligne${variant}: median ${times[times.length >> 1].toFixed(2)} ms, best ${times[0].toFixed(2)} ms per forward (${repeat} runs)`);
  model.free();
  engine.terminate();
}
