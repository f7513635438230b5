// surligne's wasm logits for the benchmark's agreement check, shared by tools/bench/run.mjs (Node) and
// tools/bench/worker.mjs (Chromium, served as /logits.mjs by tools/bench/browser.mjs).

// The logits of text's first seq tokens, flattened, where the build exports sl_wasm_logits (untimed); else
// undefined.
export function surligneLogits(M, h, text, seq) {
  if (!M._sl_wasm_logits) return undefined;
  const nLabels = M._sl_wasm_n_labels(h);
  const bytes = new TextEncoder().encode(text);
  const p = M._malloc(bytes.length + 1);
  const q = M._malloc(seq * nLabels * 4);
  try {
    M.HEAPU8.set(bytes, p);
    const n = M._sl_wasm_logits(h, p, bytes.length, seq, q);
    return n === seq ? Array.from(M.HEAPF32.subarray(q >> 2, (q >> 2) + seq * nLabels)) : undefined;
  } finally {
    M._free(q);
    M._free(p);
  }
}
