// store.js — the model store: GGUF files kept in IndexedDB, keyed by URL + sha256, so that a model is
// downloaded once and then read from this device with no network at all.
//
//   const { bytes, source } = await loadModel(url, { sha256, onProgress, signal, keep });
//       source 'indexeddb' (no request made) or 'network' (streamed with progress, verified, stored)
//   await listModels()            -> [{ url, sha256, bytes, storedAt }]   (metadata only, no model bytes)
//   await deleteModel(url[, sha]) -> number of copies deleted
//
// Every copy read back is hashed again: a corrupt or truncated copy is deleted and downloaded anew (the
// result's `repaired` says so, in words). Nothing is stored that is not a GGUF file and, when the caller
// gives `accept(bytes)` (the engine loading it), that the engine did not take; a stored copy the engine
// refuses is deleted and downloaded anew, once. Works in a window and in a worker (IndexedDB, fetch and
// crypto.subtle are in both). Errors are ModelError with a `code`: 'http' (404 and the like), 'network',
// 'truncated' (the connection cut before the announced length), 'sha256', 'model' (not a GGUF file),
// 'aborted'. A copy that cannot be stored (quota) does not fail the load: the result says stored: false and
// why, in storeError, and the copies stored before are all kept.

const DB_NAME = 'surligne-models';
const DB_VERSION = 1;
const META = 'meta'; // { key, url, sha256, bytes, storedAt }: small, listed without touching the bytes
const DATA = 'data'; // { key, data: ArrayBuffer }

export class ModelError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'ModelError';
    this.code = code;
  }
}

const keyOf = (url, sha256) => `${url}#sha256=${sha256}`;

export function formatBytes(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

export async function sha256Hex(data) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

let dbPromise = null;

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      if (typeof indexedDB === 'undefined') {
        reject(new Error('IndexedDB is not available here'));
        return;
      }
      const req = indexedDB.open(DB_NAME, DB_VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        const meta = db.createObjectStore(META, { keyPath: 'key' });
        meta.createIndex('url', 'url');
        db.createObjectStore(DATA, { keyPath: 'key' });
      };
      req.onsuccess = () => {
        const db = req.result;
        db.onversionchange = () => {
          db.close();
          dbPromise = null;
        };
        resolve(db);
      };
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('the model store is blocked by another tab of an older version'));
    });
    dbPromise.catch(() => {
      dbPromise = null;
    });
  }
  return dbPromise;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error('transaction aborted'));
  });
}

const result = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

export async function listModels() {
  const db = await openDb();
  const tx = db.transaction(META, 'readonly');
  const all = await result(tx.objectStore(META).getAll());
  return all.map(({ url, sha256, bytes, storedAt }) => ({ url, sha256, bytes, storedAt }));
}

export async function deleteModel(url, sha256) {
  const db = await openDb();
  const tx = db.transaction([META, DATA], 'readwrite');
  const meta = tx.objectStore(META);
  const keys = sha256 ? [keyOf(url, sha256)] : await result(meta.index('url').getAllKeys(url));
  for (const key of keys) {
    meta.delete(key);
    tx.objectStore(DATA).delete(key);
  }
  await done(tx);
  return keys.length;
}

// The stored copy of url (with that sha256, or any if sha256 is not given), verified; null if none.
async function readStored(url, sha256, onProgress) {
  let db;
  try {
    db = await openDb();
  } catch {
    return null;
  }
  const tx = db.transaction([META, DATA], 'readonly');
  const meta = tx.objectStore(META);
  const info = sha256 ? await result(meta.get(keyOf(url, sha256)))
    : (await result(meta.index('url').getAll(url))).sort((a, b) => b.storedAt - a.storedAt)[0];
  if (!info) return null;
  const row = await result(tx.objectStore(DATA).get(info.key));
  const data = row?.data;
  const actual = data instanceof ArrayBuffer ? await sha256Hex(data) : null;
  if (actual !== info.sha256 || data.byteLength !== info.bytes) {
    onProgress?.({ phase: 'corrupt', loaded: 0, total: info.bytes });
    await deleteModel(url, info.sha256).catch(() => {});
    const what = !(data instanceof ArrayBuffer) ? 'its bytes are missing'
      : data.byteLength !== info.bytes ? `${formatBytes(data.byteLength)} instead of ${formatBytes(info.bytes)}`
        : `its sha256 is ${actual}, not ${info.sha256}`;
    return { corrupt: `the copy of ${url} kept on this device was damaged (${what}): it was deleted` };
  }
  return { data, sha256: info.sha256 };
}

async function download(url, { onProgress, signal, expectedBytes }) {
  let res;
  try {
    res = await fetch(url, { signal, cache: 'no-store' });
  } catch (err) {
    if (signal?.aborted) throw new ModelError('aborted', 'the download was cancelled');
    throw new ModelError('network', `cannot download the model ${url}: ${err.message} (offline, or the server is down)`);
  }
  if (!res.ok) {
    throw new ModelError('http', `cannot download the model ${url}: HTTP ${res.status} ${res.statusText || ''}`.trim());
  }
  // Content-Length is the compressed size when the server compresses: then trust the caller's figure
  const length = res.headers.get('Content-Encoding') ? 0 : Number(res.headers.get('Content-Length')) || 0;
  const total = length || expectedBytes || 0;
  onProgress?.({ phase: 'download', loaded: 0, total });
  if (!res.body) {
    const data = await res.arrayBuffer();
    onProgress?.({ phase: 'download', loaded: data.byteLength, total: data.byteLength });
    return data;
  }
  const reader = res.body.getReader();
  let buf = new Uint8Array(total || 1 << 20);
  let loaded = 0;
  let reported = 0;
  for (;;) {
    let chunk;
    try {
      chunk = await reader.read();
    } catch (err) {
      if (signal?.aborted) throw new ModelError('aborted', 'the download was cancelled');
      throw new ModelError(length && loaded < length ? 'truncated' : 'network', `the download of ${url} broke off ` +
        `after ${formatBytes(loaded)}${length ? ` of ${formatBytes(length)}` : ''}: ${err.message} (try again)`);
    }
    if (chunk.done) break;
    const v = chunk.value;
    if (loaded + v.length > buf.length) {
      const grown = new Uint8Array(Math.max(buf.length * 2, loaded + v.length));
      grown.set(buf.subarray(0, loaded));
      buf = grown;
    }
    buf.set(v, loaded);
    loaded += v.length;
    if (loaded - reported >= (total || 1 << 24) / 100 || loaded === total) {
      reported = loaded;
      onProgress?.({ phase: 'download', loaded, total });
    }
  }
  if (length && loaded < length) {
    throw new ModelError('truncated', `the download of ${url} stopped after ${formatBytes(loaded)} of ` +
      `${formatBytes(length)}: the connection was cut (try again)`);
  }
  onProgress?.({ phase: 'download', loaded, total: loaded });
  return loaded === buf.length ? buf.buffer : buf.slice(0, loaded).buffer;
}

async function store(url, sha256, data) {
  if (typeof navigator !== 'undefined' && navigator.storage?.estimate) {
    const { usage = 0, quota = 0 } = await navigator.storage.estimate().catch(() => ({}));
    if (quota && quota - usage < data.byteLength) {
      return `not enough storage to keep the model on this device (${formatBytes(data.byteLength)} needed, ` +
        `${formatBytes(Math.max(0, quota - usage))} free of ${formatBytes(quota)}): it will be downloaded again next time`;
    }
  }
  let tx = null;
  try {
    const db = await openDb();
    tx = db.transaction([META, DATA], 'readwrite');
    const key = keyOf(url, sha256);
    // older versions of the same URL are replaced
    const old = await result(tx.objectStore(META).index('url').getAllKeys(url));
    for (const k of old) {
      if (k !== key) {
        tx.objectStore(META).delete(k);
        tx.objectStore(DATA).delete(k);
      }
    }
    tx.objectStore(DATA).put({ key, data });
    tx.objectStore(META).put({ key, url, sha256, bytes: data.byteLength, storedAt: Date.now() });
    await done(tx);
    return null;
  } catch (err) {
    // a put refused at once leaves the transaction open with the deletions of the older copies queued: undone
    try {
      tx?.abort();
    } catch {
      // already finished (aborted by the failure itself)
    }
    if (err?.name === 'QuotaExceededError') {
      return `the storage quota of this site is full: the model (${formatBytes(data.byteLength)}) could not be ` +
        'kept on this device and will be downloaded again next time (free space, or allow storage for this site)';
    }
    return `the model could not be kept on this device: ${err?.message || err}`;
  }
}

// The expected sha256 (hex, any case, optional) in the store's form: lower-case, or null.
function expectedSha(sha256) {
  if (!sha256) return null;
  const want = String(sha256).trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(want)) throw new ModelError('sha256', `'${sha256}' is not a sha256 (64 hex digits)`);
  return want;
}

// Hashes the model's bytes and checks them against the expected sha256 (if given); resolves to the digest.
export async function verifyModel(url, data, sha256, onProgress) {
  const want = expectedSha(sha256);
  onProgress?.({ phase: 'verify', loaded: data.byteLength, total: data.byteLength });
  const actual = await sha256Hex(data);
  if (want && actual !== want) {
    throw new ModelError('sha256', `the model ${url} is not the expected file: its sha256 is ${actual}, ` +
      `expected ${want} (${formatBytes(data.byteLength)} received; changed on the server, or damaged on the way)`);
  }
  return actual;
}

// A download that does not start with the GGUF magic (an HTML error page, garbage) is refused, never stored.
function checkGguf(url, data) {
  const head = new Uint8Array(data, 0, Math.min(16, data.byteLength));
  if (head.length >= 4 && String.fromCharCode(...head.subarray(0, 4)) === 'GGUF') return;
  const shown = Array.from(head, (b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
  throw new ModelError('model', `${url} is not a GGUF model file: its ${formatBytes(data.byteLength)} start with ` +
    `'${shown}', not 'GGUF' (a wrong URL, or the server answered something else)`);
}

// The model's bytes, from IndexedDB if a verified copy is there, else from the network (then stored).
// sha256: the expected hex digest (recommended); without it, any stored copy of the URL is taken.
// keep: false neither reads nor writes IndexedDB (Node, which has none).
// accept(bytes): optional, resolves if the model is usable (the engine loaded it), rejects otherwise; a download
// is stored only once accepted, and a stored copy it rejects with code 'model' is deleted and downloaded anew.
// The result's `repaired` is null, or says in words which damaged copy was deleted on the way.
export async function loadModel(url, { sha256, onProgress, signal, expectedBytes, keep = true, accept } = {}) {
  const want = expectedSha(sha256);
  const stored = keep ? await readStored(url, want, onProgress).catch(() => null) : null;
  let repaired = stored?.corrupt ?? null;
  if (stored?.data) {
    onProgress?.({ phase: 'cached', loaded: stored.data.byteLength, total: stored.data.byteLength });
    const bytes = new Uint8Array(stored.data);
    try {
      await accept?.(bytes);
      return { bytes, source: 'indexeddb', sha256: stored.sha256, stored: true, storeError: null, repaired: null };
    } catch (err) {
      if (err?.code !== 'model') throw err;
      onProgress?.({ phase: 'corrupt', loaded: 0, total: bytes.length });
      await deleteModel(url, stored.sha256).catch(() => {});
      repaired = `the copy of ${url} kept on this device is not a model the engine reads (${err.message}): it was deleted`;
    }
  }
  try {
    const data = await download(url, { onProgress, signal, expectedBytes });
    const actual = await verifyModel(url, data, want, onProgress);
    checkGguf(url, data);
    const bytes = new Uint8Array(data);
    await accept?.(bytes);
    if (!keep) return { bytes, source: 'network', sha256: actual, stored: false, storeError: null, repaired };
    onProgress?.({ phase: 'store', loaded: data.byteLength, total: data.byteLength });
    const storeError = await store(url, actual, data);
    return { bytes, source: 'network', sha256: actual, stored: !storeError, storeError, repaired };
  } catch (err) {
    if (repaired && err instanceof Error) err.message = `${repaired}; downloading it again failed: ${err.message}`;
    throw err;
  }
}
