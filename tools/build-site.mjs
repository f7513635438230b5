#!/usr/bin/env node
// Builds the highlighting page into dist/ (`npm run build`, after the wasm build): a static site that works
// from any static host, at the root of a domain or under a sub-path, every URL in it relative.
//
//   index.html, sw.js                 the page and its service worker, at the root: the worker's default
//                                     scope is the whole site, no Service-Worker-Allowed header needed
//   web/{app,surligne,worker,engine,store,highlight}.js, web/style.css
//   wasm/surligne.{mjs,wasm}          one thread (any host)
//   wasm/surligne-mt.{mjs,wasm,worker.js}   pthreads, used where the host sends COOP + COEP (crossOriginIsolated)
//   weights/models.json               the default model's entry only, + its .gguf and its card (.md)
//
//   node tools/build-site.mjs [--out DIR]     (npm run build builds the wasm engine first)
//
// The new tree is written beside the old one and renamed over it, so a server of dist/ never sees half a
// site. Also a module: buildSite({ out }) returns { dir, files, bytes }. Node only, no dependencies.
import {
  copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SITE_DIR = path.join(ROOT, 'dist');
export const WASM_DIST = process.env.SURLIGNE_WASM_DIST || path.join(ROOT, 'build-wasm/dist');

// The page's JS modules (web/), the engine's browser files (build-wasm/dist/): the site and the npm package
// ship the same ones.
export const PAGE_JS = ['app.js', 'surligne.js', 'worker.js', 'engine.js', 'store.js', 'highlight.js'];
export const WASM_FILES = ['surligne.mjs', 'surligne.wasm', 'surligne-mt.mjs', 'surligne-mt.wasm', 'surligne-mt.worker.js'];

export function listFiles(dir, base = dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? listFiles(p, base) : [path.relative(base, p).split(path.sep).join('/')];
  });
}

// The default model of weights/models.json: its entry, with a clear error where it is not there.
export function defaultModel() {
  const file = path.join(ROOT, 'weights/models.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8'));
  const model = manifest.models?.find((m) => m.name === manifest.default);
  if (!model) throw new Error(`${file}: no model named '${manifest.default}' (field "default")`);
  return model;
}

export function checkWasmBuild() {
  for (const f of WASM_FILES) {
    if (!existsSync(path.join(WASM_DIST, f))) {
      throw new Error(`${path.join(WASM_DIST, f)} is missing: build the engine first (bash tools/build-wasm.sh)`);
    }
  }
}

// Fills a fresh folder beside `out` through fill({ put, write }) and renames it over `out`.
export function writeTree(out, fill) {
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const put = (rel, from) => {
    const to = path.join(tmp, rel);
    mkdirSync(path.dirname(to), { recursive: true });
    copyFileSync(from, to);
  };
  const write = (rel, data) => {
    const to = path.join(tmp, rel);
    mkdirSync(path.dirname(to), { recursive: true });
    writeFileSync(to, data);
  };
  try {
    mkdirSync(tmp, { recursive: true });
    fill({ put, write });
    const old = `${out}.old-${process.pid}`;
    if (existsSync(out)) renameSync(out, old);
    renameSync(tmp, out);
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  const files = listFiles(out).sort();
  return { dir: out, files, bytes: files.reduce((n, f) => n + statSync(path.join(out, f)).size, 0) };
}

export function buildSite({ out = SITE_DIR } = {}) {
  checkWasmBuild();
  const model = defaultModel();
  return writeTree(out, ({ put, write }) => {
    put('index.html', path.join(ROOT, 'index.html'));
    put('sw.js', path.join(ROOT, 'web/sw.js'));
    for (const f of [...PAGE_JS, 'style.css']) put(`web/${f}`, path.join(ROOT, 'web', f));
    for (const f of WASM_FILES) put(`wasm/${f}`, path.join(WASM_DIST, f));
    put(`weights/${model.file}`, path.join(ROOT, 'weights', model.file));
    const card = model.file.replace(/\.gguf$/, '.md');
    if (existsSync(path.join(ROOT, 'weights', card))) put(`weights/${card}`, path.join(ROOT, 'weights', card));
    write('weights/models.json', `${JSON.stringify({ default: model.name, models: [model] }, null, 2)}\n`);
  });
}

// The command line of a build script, `node tools/NAME.mjs [--out DIR]`: runs build({ out }) and says what it
// wrote, or why it could not (exit 1; 2 for a bad argument).
export function buildCommand(name, build, defaultOut) {
  const args = process.argv.slice(2);
  let out = defaultOut;
  if (args[0] === '--out' && args[1] && args.length === 2) out = path.resolve(args[1]);
  else if (args.length) {
    console.error(`usage: node tools/${name}.mjs [--out DIR]`);
    process.exit(2);
  }
  try {
    const { dir, files, bytes } = build({ out });
    console.log(`${name}: ${files.length} files, ${(bytes / 1e6).toFixed(2)} MB in ${path.relative(process.cwd(), dir) || '.'}/`);
  } catch (err) {
    console.error(`${name}: ${err.message}`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildCommand('build-site', buildSite, SITE_DIR);
}
