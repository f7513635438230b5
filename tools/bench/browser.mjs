// One engine at one thread count in headless Chromium (spawned by tools/bench/bench.mjs, like run.mjs is for
// Node): a fresh browser and one page load, served from 127.0.0.1 with COOP/COEP (cross-origin isolated, so
// SharedArrayBuffer and threads work); the engine runs in a module Web Worker (tools/bench/worker.mjs), as
// the product does. Writes the same JSON object as run.mjs to stdout.
//
//   node tools/bench/browser.mjs ENGINE THREADS INPUTS.json MODEL[,MODEL...] [--repeat N] [--warmup N] [--budget S]
//
// ENGINE: ort-web (onnxruntime-web's ESM build ort.wasm.min.mjs and its ort-wasm-simd-threaded.mjs/.wasm,
// from node_modules/onnxruntime-web/dist/, ort.env.wasm.numThreads = THREADS) or surligne-wasm
// (build-wasm/dist-test/surligne.mjs at one thread, surligne-mt.mjs beyond, recognize(text, {threads})).
// With THREADS > 1 the run fails unless the page was cross-origin isolated and the engine started its
// worker threads (counted in the worker).
// The server serves only the page, the worker, those two folders and the model files given, from disk.
// Chromium is Debian's (/usr/bin/chromium, or $SURLIGNE_CHROMIUM), with the flags of tests/browser/ and a
// host resolver that resolves no name: nothing leaves 127.0.0.1 (every request is checked, too).
// $SURLIGNE_BENCH_CHROMIUM_ARGS adds flags (space-separated), e.g. --js-flags=--no-wasm-dynamic-tiering.
// $SURLIGNE_BENCH_KERNEL=wasm-simd128 makes surligne keep its simd128 q8_0 kernel where it would pick relaxed SIMD.
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CHROMIUM = process.env.SURLIGNE_CHROMIUM || '/usr/bin/chromium';
const ORT_DIST = path.join(ROOT, 'node_modules/onnxruntime-web/dist');
// the builds with sl_wasm_logits (the same engine as the shipped ones), for the agreement check
const WASM_DIST = process.env.SURLIGNE_WASM_DIST || path.join(ROOT, 'build-wasm/dist-test');

const [engine, threadsArg, inputsPath, modelsArg, ...rest] = process.argv.slice(2);
const option = (name, fallback) => {
  const i = rest.indexOf(name);
  return i < 0 ? fallback : Number(rest[i + 1]);
};
if (engine !== 'ort-web' && engine !== 'surligne-wasm') {
  console.error(`browser.mjs: unknown engine '${engine}' (ort-web, surligne-wasm)`);
  process.exit(2);
}
const threads = Number(threadsArg);
const repeat = option('--repeat', 10);
const warmup = option('--warmup', 2);
const budget = option('--budget', 0);
const inputs = JSON.parse(readFileSync(inputsPath, 'utf8'));
const models = modelsArg.split(',');

const PAGE = '<!doctype html><meta charset="utf-8"><title>surligne bench</title>\n';
const MIME = { '.html': 'text/html; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };

// URL path -> file: /worker.mjs, /logits.mjs, /ort/NAME, /wasm/NAME, /model/I (models[I]); null for anything else.
function resolvePath(p) {
  const m = p.match(/^\/(ort|wasm|model)\/([\w.-]+)$/);
  if (p === '/worker.mjs' || p === '/logits.mjs') return path.join(ROOT, 'tools/bench', p.slice(1));
  if (!m) return null;
  if (m[1] === 'ort') return path.join(ORT_DIST, m[2]);
  if (m[1] === 'wasm') return path.join(WASM_DIST, m[2]);
  return models[Number(m[2])] ?? null;
}

function serve() {
  const server = createServer(async (req, res) => {
    const p = new URL(req.url, 'http://localhost').pathname;
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    };
    if (p === '/') {
      res.writeHead(200, { ...headers, 'Content-Type': MIME['.html'] }).end(PAGE);
      return;
    }
    if (p === '/favicon.ico') {
      res.writeHead(204, headers).end();
      return;
    }
    const file = resolvePath(p);
    const info = file && (await stat(file).catch(() => null));
    if (!info?.isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end(`not found: ${p}\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream',
      'Content-Length': info.size });
    createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () =>
    resolve({ server, origin: `http://127.0.0.1:${server.address().port}` })));
}

// CPU seconds used so far by this process's descendants (Chromium's browser, renderer, GPU... processes),
// from /proc: utime + stime, in clock ticks of 1/100 s.
function chromiumCpuSeconds() {
  const procs = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3, the state
      procs.push({ pid: Number(pid), ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone meanwhile
    }
  }
  const mine = new Set([process.pid]);
  let ticks = 0;
  for (let grew = true; grew;) {
    grew = false;
    for (const p of procs) {
      if (!mine.has(p.pid) && mine.has(p.ppid)) {
        mine.add(p.pid);
        ticks += p.ticks;
        grew = true;
      }
    }
  }
  return ticks / 100;
}

const { server, origin } = await serve();
let browser;
let status = 0;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      ...(process.env.SURLIGNE_BENCH_CHROMIUM_ARGS?.split(' ').filter(Boolean) ?? []),
    ],
  });
  const context = await browser.newContext();
  const page = await context.newPage();
  const requests = [];
  const offsite = [];
  const errors = [];
  context.on('request', (r) => { // the worker's requests too
    requests.push(r.url());
    if (!r.url().startsWith(`${origin}/`) && !/^(blob|data):/.test(r.url())) offsite.push(r.url());
  });
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') errors.push(msg.text());
  });
  page.on('pageerror', (err) => errors.push(err.message));
  const cpu = []; // CPU time over wall-clock time of each timed loop, in order
  let mark = null;
  await page.exposeFunction('benchMark', (phase) => {
    const now = { wall: performance.now() / 1e3, cpu: chromiumCpuSeconds() };
    if (phase === 'start') mark = now;
    else cpu.push((now.cpu - mark.cpu) / (now.wall - mark.wall));
  });
  await page.goto(`${origin}/`);
  const job = { engine, threads, inputs, repeat, warmup, budget, models: models.map((_, i) => `${origin}/model/${i}`),
    kernel: process.env.SURLIGNE_BENCH_KERNEL };
  const r = await page.evaluate((job) => new Promise((resolve) => {
    const w = new Worker('/worker.mjs', { type: 'module' });
    let chain = Promise.resolve(); // marks reach Node before the answer
    w.onmessage = ({ data }) => {
      chain = chain.then(() => (data.type === 'mark' ? window.benchMark(data.phase) : resolve(data)));
    };
    w.onerror = (e) => resolve({ type: 'error', message: `worker: ${e.message}` });
    w.postMessage(job);
  }), job);
  for (const e of errors) console.error(`browser.mjs: console: ${e}`);
  if (process.env.SURLIGNE_BENCH_REQUESTS) console.error(requests.join('\n'));
  if (r.type !== 'done') throw new Error(r.message);
  if (offsite.length) throw new Error(`requests left 127.0.0.1: ${offsite.join(' ')}`);
  // onnxruntime-web starts its pthreads as it initialises; surligne-mt starts its pool with the module
  const { crossOriginIsolated, workersStarted, ortNumThreads, hasThreads } = r.check;
  const threadsOk = threads === 1 || (crossOriginIsolated && workersStarted >= threads - 1 &&
    (engine === 'ort-web' ? ortNumThreads === threads : hasThreads));
  if (!threadsOk) throw new Error(`${engine} did not run on ${threads} threads: ${JSON.stringify(r.check)}`);
  r.results.forEach((x, i) => {
    x.model = models[Number(x.model.split('/').pop())];
    if (cpu[i] !== undefined) x.cpu = Number(cpu[i].toFixed(2));
  });
  const info = `${r.info}; Chromium ${browser.version()}; ${JSON.stringify(r.check)}`;
  process.stdout.write(JSON.stringify({ engine, threads, info, results: r.results }) + '\n');
} catch (err) {
  console.error(`browser.mjs: ${engine}, ${threads} thread(s): ${err.message}`);
  status = 1;
} finally {
  await browser?.close();
  server.closeAllConnections?.();
  server.close();
}
process.exit(status);
