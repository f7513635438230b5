// The npm package (tools/build-package.mjs, packed by npm pack) as its users get it:
//  - the tarball holds the API, its types, workers and engine, and nothing else (no page, model, tests, C);
//  - Node: a script in a fresh folder that installed the tarball imports 'surligne' and recognises text on
//    one thread and two (worker threads) from a path, and from an http URL, and the process ends after
//    dispose(); a wrong sha256, a missing file and a 404 are refused with their codes;
//  - Vite: a fresh app in TypeScript (tests/package/vite-app: vite and typescript pinned by its
//    package-lock.json) installs the tarball, type-checks against its declarations (tsc) and `vite build`s with
//    no configuration, and its page, served without COOP/COEP and again with them, finds
//    both people of the showcase sentence in Chromium, on one thread and on two. The model is copied from the
//    repository into the app's public/ folder: nothing comes from the network.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';

import { buildPackage } from '../../tools/build-package.mjs';
import { defaultModel } from '../../tools/build-site.mjs';
import { ROOT, SENTENCE, launch, startSite } from './harness.mjs';

const run = promisify(execFile);
const MODEL = defaultModel();
const MODEL_PATH = path.join(ROOT, 'weights', MODEL.file);
const PEOPLE = ['PER:Gérald Darmanin', 'PER:Nicolas Sarkozy'];
const npm = (args, cwd) => run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'],
  { cwd, timeout: 300_000, maxBuffer: 1 << 24 });

let work;
let tarball;
let packed;

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'surligne-package-'));
  const { dir } = buildPackage({ out: path.join(work, 'package') });
  const { stdout } = await npm(['pack', dir, '--json', '--pack-destination', work], work);
  [packed] = JSON.parse(stdout);
  tarball = path.join(work, packed.filename);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the tarball holds the API, its types, workers and engine, nothing else', () => {
  const files = packed.files.map((f) => f.path).sort();
  assert.deepEqual(files, [
    'README.md', 'package.json',
    'wasm/node/package.json', 'wasm/node/surligne-mt.cjs', 'wasm/node/surligne-mt.worker.js', 'wasm/node/surligne.cjs',
    'wasm/surligne-mt.mjs', 'wasm/surligne-mt.wasm', 'wasm/surligne-mt.worker.js', 'wasm/surligne.mjs', 'wasm/surligne.wasm',
    'web/engine.js', 'web/node/surligne.js', 'web/node/worker.js', 'web/store.js', 'web/surligne.d.ts', 'web/surligne.js',
    'web/worker.js', 'weights/models.json',
  ]);
  assert.ok(packed.size < 1_000_000, `${packed.size} bytes packed`);
  const manifest = JSON.parse(readFileSync(path.join(work, 'package/package.json'), 'utf8'));
  assert.equal(manifest.name, 'surligne');
  assert.equal(manifest.private, undefined);
  assert.deepEqual(manifest.exports['.'], { types: './web/surligne.d.ts', node: './web/node/surligne.js', default: './web/surligne.js' });
  assert.deepEqual(manifest.dependencies, undefined);
});

test('Node: a script imports the installed package and recognises text in worker threads', async () => {
  const app = path.join(work, 'node-app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), '{ "private": true, "type": "module" }\n');
  await npm(['install', '--offline', tarball], app); // no dependencies: nothing to fetch
  writeFileSync(path.join(app, 'recognize.mjs'), `
import { createRequire } from 'node:module';
import { Surligne } from 'surligne';
const models = createRequire(import.meta.url)('surligne/models.json');
const entry = models.models.find((m) => m.name === models.default);
const out = {};
for (const threads of [1, 2]) {
  const ner = await Surligne.load(process.argv[2], { sha256: entry.sha256, threads });
  out[threads] = { info: ner.info, entities: await ner.recognize(process.argv[3]) };
  ner.dispose();
}
{
  const ner = await Surligne.load(process.argv[4], { sha256: entry.sha256, threads: 1 }); // over http
  out.http = { info: ner.info, entities: await ner.recognize(process.argv[3]) };
  ner.dispose();
}
for (const [name, url, sha256] of [['sha256', process.argv[2], '0'.repeat(64)], ['missing', process.argv[2] + '.none'],
  ['404', process.argv[4] + '.none']]) {
  out[name] = await Surligne.load(url, { sha256 }).then(() => 'loaded', (err) => err.code);
}
console.log(JSON.stringify(out));
`);
  // the process must end by itself once every Surligne is disposed
  const site = await startSite(); // dist/, for a model given by URL
  let out;
  try {
    const { stdout } = await run(process.execPath, ['recognize.mjs', MODEL_PATH, `${SENTENCE} Le 14 juillet 1789.`,
      `${site.url}weights/${MODEL.file}`], { cwd: app, timeout: 60_000 });
    out = JSON.parse(stdout);
  } finally {
    await site.close();
  }
  for (const threads of ['1', '2']) {
    const { info, entities } = out[threads];
    assert.deepEqual([info.build, info.threads, info.source, info.sha256], [threads === '1' ? 'surligne' : 'surligne-mt',
      Number(threads), 'file', MODEL.sha256]);
    const got = entities.map((e) => `${e.label}:${e.text}`);
    for (const p of PEOPLE) assert.ok(got.includes(p), `${p} not in ${got}`);
    assert.ok(entities.some((e) => e.label === 'DATE' && e.value === '1789-07-14'), JSON.stringify(entities));
    for (const e of entities) assert.equal(`${SENTENCE} Le 14 juillet 1789.`.slice(e.start, e.end), e.text);
  }
  assert.deepEqual(out['2'].entities, out['1'].entities);
  assert.deepEqual([out.http.info.source, out.http.info.stored, out.http.info.sha256], ['network', false, MODEL.sha256]);
  assert.deepEqual(out.http.entities, out['1'].entities);
  assert.deepEqual([out.sha256, out.missing, out['404']], ['sha256', 'file', 'http']);
});

test('Vite: a fresh app installs the tarball, builds, and highlights the showcase sentence', async () => {
  const app = path.join(work, 'vite-app');
  cpSync(path.join(ROOT, 'tests/package/vite-app'), app, { recursive: true });
  mkdirSync(path.join(app, 'public'));
  cpSync(MODEL_PATH, path.join(app, 'public', MODEL.file));
  await npm(['install', tarball], app); // vite and typescript as pinned by the app's package-lock.json, and the package
  await run('npm', ['run', 'build'], { cwd: app, timeout: 300_000 }).catch((err) => { // tsc (types) && vite build
    throw new Error(`the app does not build: ${err.stdout}${err.stderr}`);
  });
  const built = path.join(app, 'dist');
  for (const isolate of [false, true]) {
    const site = await startSite({ root: built, isolate });
    const browser = await launch({ offlineCapable: false });
    try {
      const { page } = browser;
      await page.goto(`${site.url}index.html?threads=2`);
      const result = await (await page.waitForFunction(() => window.result, null, { timeout: 60_000 })).jsonValue();
      assert.equal(result.error, undefined, `the app failed: ${result.error}`);
      const got = result.entities.map((e) => `${e.label}:${e.text}`);
      for (const p of PEOPLE) assert.ok(got.includes(p), `${p} not in ${got}`);
      assert.deepEqual(await page.$$eval('#output mark', (ms) => ms.map((m) => `${m.dataset.label}:${m.textContent}`)), got);
      assert.deepEqual([result.info.crossOriginIsolated, result.info.build], isolate ? [true, 'surligne-mt'] : [false, 'surligne']);
      // the engine's files came out of the bundle, renamed by Vite, not from the package's folders
      assert.ok(site.requests.some((r) => /^\/assets\/.*\.wasm$/.test(r)), site.requests.join(' '));
      assert.ok(!site.requests.some((r) => r.includes('node_modules')), site.requests.join(' '));
      assert.deepEqual(browser.errors, [], site.requests.join(' '));
    } finally {
      await browser.close();
      await site.close();
    }
  }
});
