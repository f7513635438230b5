// A proxy that refuses everything and remembers what it was asked: Chromium is started with
// --proxy-server pointing here, so any request that would leave the machine (from a page, the browser
// or an extension's offscreen document, which Playwright does not see) lands in `log` and fails.
// Loopback addresses bypass a proxy in Chromium, so the test's own server is reached directly.
import { createServer } from 'node:http';

export async function startRefusingProxy() {
  const log = [];
  const server = createServer((req, res) => {
    log.push({ method: req.method, url: req.url, origin: req.headers.origin || null });
    res.writeHead(403, { 'Content-Type': 'text/plain', Connection: 'close' });
    res.end('refused by the test proxy\n');
  });
  server.on('connect', (req, socket) => {
    log.push({ method: 'CONNECT', url: req.url, origin: null });
    socket.on('error', () => {});
    socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    log,
    close: () => new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(resolve);
    }),
  };
}
