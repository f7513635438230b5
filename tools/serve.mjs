#!/usr/bin/env node
// The static server of the highlighting page: serves the built site (dist/, `npm run build`) on the
// loopback interface, with the headers that make the page cross-origin isolated (COOP + COEP + CORP), so the
// pthreads build can use SharedArrayBuffer; a page served without them (any plain static host) still works,
// on one thread. Nothing else is special: the site works as well behind any static server.
//
//   node tools/serve.mjs [PORT]        PORT, or $PORT, or 8080; 0 picks a free port. Prints the URL.
//
// Also a module: `startServer({ port, root, isolate, onRequest })` resolves to { server, url } (used by
// tests/browser/, which records requests with onRequest). No dependencies beyond Node.
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const SITE = path.join(ROOT, 'dist');

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.gguf': 'application/octet-stream',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

// URL path -> file under root, or null (no dot-files, nothing above root).
function resolvePath(urlPath, root) {
  let p;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (p.includes('\0')) return null;
  const parts = p.split('/').filter(Boolean);
  if (parts.some((s) => s === '..' || s.startsWith('.'))) return null;
  if (parts.length === 0 || p.endsWith('/')) parts.push('index.html');
  return path.join(root, ...parts);
}

// isolate: false leaves out COOP/COEP (the page then runs on one thread): for tests of that fallback.
export function startServer({ port = 8080, host = '127.0.0.1', root = SITE, isolate = true, onRequest } = {}) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    onRequest?.({ method: req.method, path: url.pathname, url: req.url });
    const headers = { ...(isolate ? ISOLATION : { 'X-Content-Type-Options': 'nosniff' }), 'Cache-Control': 'no-cache' };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
      return;
    }
    const file = resolvePath(url.pathname, root);
    let info;
    try {
      info = file && (await stat(file));
    } catch {
      info = null;
    }
    if (!info || !info.isFile()) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(`not found: ${url.pathname}\n`);
      return;
    }
    headers['Content-Type'] = MIME[path.extname(file).toLowerCase()] || 'application/octet-stream';
    headers['Content-Length'] = info.size;
    headers['Last-Modified'] = info.mtime.toUTCString();
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const { port: actual } = server.address();
      resolve({ server, url: `http://${host}:${actual}/` });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2] ?? process.env.PORT ?? '8080';
  const port = Number(arg);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve: bad port '${arg}' (usage: node tools/serve.mjs [PORT])`);
    process.exit(2);
  }
  if (!existsSync(path.join(SITE, 'index.html'))) {
    console.error(`serve: ${SITE}/index.html is missing: build the site first (npm run build, or bash tools/demo.sh)`);
    process.exit(1);
  }
  startServer({ port }).then(({ url }) => {
    console.log(`surligne: open ${url} (Ctrl-C stops the server)`);
  }, (err) => {
    console.error(`serve: cannot listen on 127.0.0.1:${port}: ${err.message}`);
    process.exit(1);
  });
}
