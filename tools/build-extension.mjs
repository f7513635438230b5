#!/usr/bin/env node
// Builds the browser extension (Manifest V3, Chromium) into build/extension/ (unpacked: chrome://extensions,
// "Load unpacked") and build/surligne-extension.zip (the same files, for a store or a policy install):
//
//   web/extension/*                   manifest, service worker, offscreen document, content script, popup, options
//   web/{surligne,worker,engine,store,highlight}.js -> web/   the page's engine glue, unchanged (one copy of the code)
//   build-wasm/dist/surligne.{mjs,wasm}     -> wasm/   the single-thread SIMD build (extension pages are not
//                                                       cross-origin isolated, so no pthreads)
//   weights/<default model>.gguf + models.json (its entry only) -> weights/   the bundled model: no download
//   icons/{16,32,48,128}.png          drawn here (a highlighter stroke), no binary file in the repository
//
//   node tools/build-extension.mjs     (npm run build:extension builds the wasm engine first)
//
// Also a module: buildExtension() resolves to { dir, zip, files, bytes }. Node only, no dependencies.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { deflateRawSync, deflateSync } from 'node:zlib';

import { ROOT, WASM_DIST, checkWasmBuild, defaultModel, listFiles, writeTree } from './build-site.mjs';

export const EXTENSION_DIR = path.join(ROOT, 'build/extension');
export const EXTENSION_ZIP = path.join(ROOT, 'build/surligne-extension.zip');

const GLUE = ['surligne.js', 'worker.js', 'engine.js', 'store.js', 'highlight.js'];
const WASM = ['surligne.mjs', 'surligne.wasm'];

// --- CRC-32 (zip, png) --------------------------------------------------------------------------------------

const CRC_TABLE = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf, crc = 0) {
  let c = ~crc >>> 0;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// --- zip (deflate, or stored when deflate does not help) -----------------------------------------------------

// entries: [{ name, data: Buffer }] -> the zip file's bytes. Fixed time stamp: the same files give the same zip.
export function zip(entries) {
  const locals = [];
  const centrals = [];
  let offset = 0;
  const DOS_TIME = 0; // 00:00:00
  const DOS_DATE = ((2024 - 1980) << 9) | (1 << 5) | 1; // 2024-01-01
  for (const { name, data } of entries) {
    const nameBytes = Buffer.from(name, 'utf8');
    const deflated = deflateRawSync(data, { level: 9 });
    const method = deflated.length < data.length ? 8 : 0;
    const body = method === 8 ? deflated : data;
    const crc = crc32(data);
    // the 26 bytes both headers share, from "version needed" to the name's length
    const shared = (buf, at) => {
      buf.writeUInt16LE(20, at); // version needed: 2.0
      buf.writeUInt16LE(0x0800, at + 2); // names are UTF-8
      buf.writeUInt16LE(method, at + 4);
      buf.writeUInt16LE(DOS_TIME, at + 6);
      buf.writeUInt16LE(DOS_DATE, at + 8);
      buf.writeUInt32LE(crc, at + 10);
      buf.writeUInt32LE(body.length, at + 14);
      buf.writeUInt32LE(data.length, at + 18);
      buf.writeUInt16LE(nameBytes.length, at + 22);
    };
    const local = Buffer.alloc(30); // the extra field's length (28) stays 0
    local.writeUInt32LE(0x04034b50, 0);
    shared(local, 4);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4); // made by: unix, 2.0
    shared(central, 6);
    central.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: a regular file, rw-r--r--
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, body);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + body.length;
  }
  const centralSize = centrals.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(centralSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, ...centrals, end]);
}

// --- icons: a yellow highlighter stroke under three lines of "text" ------------------------------------------

function png(size, pixel) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0; // filter: none
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel((x + 0.5) / size, (y + 0.5) / size);
      raw.set([r, g, b, a], y * (size * 4 + 1) + 1 + x * 4);
    }
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 6, 0, 0, 0], 8); // 8 bits, RGBA
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

function iconPixel(u, v) {
  const inside = (x0, y0, x1, y1) => u >= x0 && u <= x1 && v >= y0 && v <= y1;
  const r = 0.18; // rounded square
  const dx = Math.max(0, Math.abs(u - 0.5) - (0.5 - r));
  const dy = Math.max(0, Math.abs(v - 0.5) - (0.5 - r));
  if (dx * dx + dy * dy > r * r) return [0, 0, 0, 0];
  if (inside(0.14, 0.42, 0.86, 0.62)) {
    if (inside(0.2, 0.48, 0.62, 0.56)) return [40, 40, 40, 255]; // the highlighted word
    return [255, 212, 0, 255]; // the highlighter
  }
  if (inside(0.2, 0.22, 0.8, 0.3) || inside(0.2, 0.74, 0.7, 0.82)) return [90, 90, 90, 255];
  return [255, 255, 255, 255];
}

// --- the build -----------------------------------------------------------------------------------------------

export function buildExtension({ dir = EXTENSION_DIR, zipPath = EXTENSION_ZIP } = {}) {
  checkWasmBuild();
  const model = defaultModel();
  const { files, bytes } = writeTree(dir, ({ put, write }) => {
    const src = path.join(ROOT, 'web/extension');
    for (const f of listFiles(src)) put(f, path.join(src, f));
    for (const f of GLUE) put(`web/${f}`, path.join(ROOT, 'web', f));
    for (const f of WASM) put(`wasm/${f}`, path.join(WASM_DIST, f));
    put(`weights/${model.file}`, path.join(ROOT, 'weights', model.file));
    write('weights/models.json', `${JSON.stringify({ default: model.name, models: [model] }, null, 2)}\n`);
    for (const size of [16, 32, 48, 128]) write(`icons/${size}.png`, png(size, iconPixel));
  });
  const archive = zip(files.map((name) => ({ name, data: readFileSync(path.join(dir, name)) })));
  mkdirSync(path.dirname(zipPath), { recursive: true });
  writeFileSync(`${zipPath}.tmp`, archive);
  renameSync(`${zipPath}.tmp`, zipPath);
  return { dir, zip: zipPath, files, bytes, zipBytes: archive.length };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t0 = Date.now();
  const out = buildExtension();
  const rel = (p) => path.relative(process.cwd(), p) || '.';
  console.log(`build-extension: ${rel(out.dir)}/ (${out.files.length} files, ${(out.bytes / 1e6).toFixed(1)} MB), ` +
    `${rel(out.zip)} (${(out.zipBytes / 1e6).toFixed(1)} MB) in ${Date.now() - t0} ms`);
}
