// `npm run web`: builds the browser bundle (web/bundle.mjs), then serves dist/web/ on $PORT
// (default 8080) at $HOST (default 127.0.0.1: localhost is a secure context, which WebGPU and
// cross-origin isolation need). Every response carries Cross-Origin-Opener-Policy: same-origin and
// Cross-Origin-Embedder-Policy: require-corp: the page is then cross-origin isolated, which the
// WASM backend's threads need (SharedArrayBuffer). Prints "serving http://HOST:PORT/" once it
// listens. Only files under dist/web/ are served.
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWeb } from './bundle.mjs';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const port = Number(process.env.PORT ?? 8080);
const host = process.env.HOST ?? '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`web: PORT=${process.env.PORT} is not a port number`);
  process.exit(2);
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.map': 'application/json; charset=utf-8', '.json': 'application/json; charset=utf-8',
};

let dir;
try {
  dir = await bundleWeb(root);
} catch (e) {
  console.error(`web: the browser build failed: ${e.message.split('\n')[0]}`);
  process.exit(1);
}

const server = createServer((req, res) => {
  const headers = {
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Embedder-Policy': 'require-corp',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
    return;
  }
  let path;
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
  } catch {
    res.writeHead(400, headers).end('bad request');
    return;
  }
  if (path.endsWith('/')) path += 'index.html';
  const file = normalize(join(dir, path));
  let size = -1;
  try { if (file.startsWith(dir + sep)) { const st = statSync(file); if (st.isFile()) size = st.size; } } catch { /* not found */ }
  if (size < 0) {
    res.writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found');
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': size });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
});
server.on('error', (e) => {
  console.error(`web: cannot listen on ${host}:${port}: ${e.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  const a = server.address();
  console.log(`serving http://${host === '0.0.0.0' ? 'localhost' : host}:${a.port}/`);
});
