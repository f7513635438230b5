#!/usr/bin/env node
// Builds the npm package `surligne` into build/npm/ (`npm run package` then packs it: build/surligne-VERSION.tgz):
// the JS API for browsers and Node >= 20, its TypeScript declarations, its workers and the WebAssembly engine,
// nothing else (no page, no model, no tests, no C, no training code).
//
//   package.json                      generated here: name, version and description from the repository's,
//                                     "exports" (types; "node" -> web/node/surligne.js; default -> web/surligne.js)
//   web/{surligne,worker,engine,store}.js, web/surligne.d.ts    the browser's API and Web Worker, as the site's
//   web/node/{surligne,worker}.js     the same API under Node, its engine in a worker thread
//   wasm/surligne{,-mt}.{mjs,wasm}, wasm/surligne-mt.worker.js  the engine (browsers: ES modules)
//   wasm/node/surligne{,-mt}.cjs, wasm/node/surligne-mt.worker.js   Node's glue (CommonJS), same .wasm files
//   weights/models.json               the default model's name, file, sha256 and size (not the model: below)
//   README.md                         usage
//
// The model (12.3 MB) is not in the package: an application serves the .gguf file itself (or gives any URL)
// and passes its sha256; the browser keeps it in IndexedDB after the first visit.
//
//   node tools/build-package.mjs [--out DIR]     (npm run package builds the wasm engine first, then packs)
//
// Also a module: buildPackage({ out }) returns { dir, files, bytes }. Node only, no dependencies.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ROOT, WASM_DIST, WASM_FILES, buildCommand, checkWasmBuild, defaultModel, writeTree } from './build-site.mjs';

export const PACKAGE_DIR = path.join(ROOT, 'build/npm');
const API_JS = ['surligne.js', 'worker.js', 'engine.js', 'store.js'];
const NODE_GLUE = ['surligne.cjs', 'surligne-mt.cjs', 'surligne-mt.worker.js'];

function manifest() {
  const repo = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  if (!repo.version) throw new Error(`${path.join(ROOT, 'package.json')}: no "version" field`);
  return {
    name: repo.name,
    version: repo.version,
    description: repo.description,
    keywords: ['ner', 'named-entity-recognition', 'french', 'webassembly', 'camembert', 'offline'],
    type: 'module',
    engines: { node: '>=20' },
    exports: {
      '.': {
        types: './web/surligne.d.ts',
        node: './web/node/surligne.js',
        default: './web/surligne.js',
      },
      './models.json': './weights/models.json',
      './package.json': './package.json',
    },
    main: './web/node/surligne.js',
    browser: './web/surligne.js',
    types: './web/surligne.d.ts',
    sideEffects: false,
  };
}

const README = (m, model) => `# ${m.name}

${m.description}: the people, organisations and places of a French text (the model's labels), and its dates,
times, amounts and percentages with a normalised value, found by a C engine compiled to WebAssembly, in a Web
Worker (browsers) or a worker thread (Node >= 20). Nothing is sent anywhere.

\`\`\`js
import { Surligne } from 'surligne';
import models from 'surligne/models.json';

const entry = models.models.find((m) => m.name === models.default);
const ner = await Surligne.load('/models/${model.file}', { sha256: entry.sha256 });
const entities = await ner.recognize('Gérald Darmanin, ministre de la justice, a rendu visite à Nicolas Sarkozy.');
// [{ label: 'PER', score: 0.99, text: 'Gérald Darmanin', start: 0, end: 15 }, …]   (UTF-16 offsets)
ner.dispose();
\`\`\`

**The model is not in this package.** Serve \`${model.file}\` (${(model.bytes / 1e6).toFixed(1)} MB, sha256 in
\`surligne/models.json\`) from your site and give its URL; a browser downloads it once, checks its sha256 and
keeps it in IndexedDB. Under Node, give a path or a URL.

- The engine's files (\`wasm/\`) and the worker are found from the module's own URL (\`new URL(…,
  import.meta.url)\`): bundlers that follow that pattern (Vite, webpack 5, Parcel) copy them with no
  configuration. With Vite's dev server, add \`optimizeDeps: { exclude: ['surligne'] }\` to vite.config.js (its
  pre-bundling moves the module away from its files; \`vite build\` needs nothing).
- Threads: where the page is cross-origin isolated (COOP \`same-origin\` + COEP \`require-corp\`), \`threads\`
  (default up to 4) runs the pthreads build; elsewhere one thread. Under Node, always allowed.
- Types: \`web/surligne.d.ts\`. Options: \`sha256\`, \`onProgress\`, \`threads\`, \`expectedBytes\`, \`wasmBase\`
  (serve \`wasm/\` yourself), \`workerUrl\`; \`recognize(text, { aggregation, threshold, dates, signal })\`.
`;

export function buildPackage({ out = PACKAGE_DIR } = {}) {
  checkWasmBuild();
  for (const f of NODE_GLUE) {
    readFileSync(path.join(WASM_DIST, 'node', f)); // throws, naming the file, if the Node build is missing
  }
  const m = manifest();
  const model = defaultModel();
  return writeTree(out, ({ put, write }) => {
    write('package.json', `${JSON.stringify(m, null, 2)}\n`);
    write('README.md', README(m, model));
    for (const f of [...API_JS, 'surligne.d.ts']) put(`web/${f}`, path.join(ROOT, 'web', f));
    for (const f of ['surligne.js', 'worker.js']) put(`web/node/${f}`, path.join(ROOT, 'web/node', f));
    for (const f of WASM_FILES) put(`wasm/${f}`, path.join(WASM_DIST, f));
    for (const f of NODE_GLUE) put(`wasm/node/${f}`, path.join(WASM_DIST, 'node', f));
    write('wasm/node/package.json', '{ "type": "commonjs" }\n'); // the glue is CommonJS inside a module package
    write('weights/models.json', `${JSON.stringify({ default: model.name, models: [model] }, null, 2)}\n`);
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildCommand('build-package', buildPackage, PACKAGE_DIR);
}
