// Types of surligne.js, the JS API of the WebAssembly engine (see the opening comment of surligne.js), and of
// node/surligne.js, the same API under Node (the npm package's "node" export).

/** How sub-word predictions become entities: the Hugging Face token-classification pipeline's strategies. */
export type Aggregation = 'none' | 'simple' | 'first' | 'average' | 'max';

export declare const AGGREGATIONS: readonly Aggregation[];
export declare const DECODINGS: readonly ('viterbi' | 'argmax')[];

/** The entity types of the engine's rule recogniser: dates, times, amounts of money, percentages. */
export type RuleType = 'DATE' | 'TIME' | 'MONEY' | 'PERCENT';
export declare const RULE_TYPES: readonly RuleType[];

export interface Entity {
  /** Entity type ('PER', 'ORG', 'LOC', …: from the model file; with aggregation 'none', the token's label,
   *  'B-PER'), or one of the rule recogniser's RuleType. */
  label: string | RuleType;
  /** Probability in [0, 1]; 1 for the rule recogniser's entities. */
  score: number;
  /** text.slice(start, end). */
  text: string;
  /** UTF-16 index of the first character in the text given to recognize(). */
  start: number;
  /** UTF-16 index just past the last character. */
  end: number;
  /** The normalised value of a rule entity, absent where there is none (model entities; relative or vague
   *  dates such as 'hier'): DATE ISO 8601 ('1789-07-14', '2024-03', '1998', '--07-14' without a year,
   *  '2026-06-03/2026-06-07' for a range, '1960/1969' for a decade, '2027-22' for summer 2027), TIME 'HH:MM',
   *  MONEY '<amount> <ISO 4217 code>' ('12000000 EUR'), PERCENT the number ('7.1'). */
  value?: string;
}

export interface LoadProgress {
  /** download: bytes arriving; cached: read from IndexedDB; corrupt: the stored copy failed its hash and is
   *  downloaded again; verify: sha256; store: written to IndexedDB; start: the engine reads the model. */
  phase: 'download' | 'cached' | 'corrupt' | 'verify' | 'store' | 'start';
  loaded: number;
  /** 0 when the size is not known. */
  total: number;
}

export interface LoadOptions {
  /** Expected sha256 of the file (64 hex digits). Checked on download and on every read from IndexedDB. */
  sha256?: string;
  onProgress?: (progress: LoadProgress) => void;
  /** Threads (default: min(hardwareConcurrency, 4)). More than 1 uses the pthreads build, only where the page
   *  is crossOriginIsolated (COOP + COEP headers); otherwise one thread. */
  threads?: number;
  /** Size of the file, for the progress total when the server does not send Content-Length. */
  expectedBytes?: number;
  /** A folder of the engine's files (surligne.mjs, surligne.wasm and the -mt files; under Node, a local folder
   *  that also holds node/surligne*.cjs); default: the package's own wasm/, found from the module's URL. */
  wasmBase?: string | URL;
  /** The worker script; default worker.js beside surligne.js. */
  workerUrl?: string | URL;
}

export interface ModelInfo {
  /** 'surligne' (one thread) or 'surligne-mt' (pthreads). */
  build: 'surligne' | 'surligne-mt';
  threads: number;
  requestedThreads: number;
  simd: boolean;
  /** The int8 matrix product in use: 'wasm-relaxed' where the browser runs relaxed SIMD (7-bit
   * activations), else 'wasm-simd128'. */
  kernel: 'wasm-relaxed' | 'wasm-simd128';
  crossOriginIsolated: boolean;
  /** Where the model bytes came from ('file': Node, a path or file: URL, read where it is). */
  source: 'indexeddb' | 'network' | 'file';
  /** Model file size in bytes. */
  bytes: number;
  sha256: string;
  /** Whether a copy is kept in IndexedDB; if not, storeError says why (quota, …). Always false under Node. */
  stored: boolean;
  storeError: string | null;
  /** null, or which damaged copy kept on this device was deleted (and the model downloaded again), in words. */
  repaired: string | null;
  /** Whether the browser granted persistent storage (navigator.storage.persist()). */
  persisted: boolean;
  /** Tokens per window of the model (longer texts are split into overlapping windows). */
  maxTokens: number;
  /** Milliseconds from load() to ready, as seen by the page. */
  readyMs: number;
  loadMs: number;
  modelMs: number;
}

export interface RecognizeOptions {
  aggregation?: Aggregation;
  /** Entities scoring below are dropped (default 0). */
  threshold?: number;
  /** How the words' labels are read from their scores: 'viterbi' (default), the best label sequence the label
   *  scheme allows (no I-ORG after B-PER or O); 'argmax', each word its own best label, as the Hugging Face
   *  pipeline. */
  decoding?: 'viterbi' | 'argmax';
  /** Dates, times, amounts and percentages of the rule recogniser, merged with the model's entities (a model
   *  entity wins an overlap). Default true. */
  dates?: boolean;
  /** Cancels the call: a queued call is dropped, a running call's result is discarded; rejects with an AbortError. */
  signal?: AbortSignal;
}

export declare class Surligne {
  /** Starts the worker, reads the model (IndexedDB, else the network), loads it into the engine. Rejects with an
   *  Error whose `code` is 'http', 'network', 'sha256', 'model', 'engine', 'unsupported', 'memory', or under
   *  Node 'file' (unreadable). Under Node, modelUrl may be a path (relative to the current folder), a file: or
   *  an http(s) URL, and the worker is a worker thread: dispose() it for the process to end. */
  static load(modelUrl: string | URL, options?: LoadOptions): Promise<Surligne>;
  /** The model's labels in id2label order: ['O', 'B-PER', 'I-PER', …]. */
  readonly labels: string[];
  /** The entity types of the labels, without B-/I- prefixes, then the rule recogniser's:
   *  ['PER', 'ORG', 'LOC', 'DATE', 'TIME', 'MONEY', 'PERCENT']. */
  readonly entityTypes: string[];
  readonly info: ModelInfo;
  /** Milliseconds the worker spent on the last call. */
  readonly lastMs?: number;
  /** Calls queued or running. */
  readonly pending: number;
  /** Entities of text, in order. Calls run one at a time, in order. */
  recognize(text: string, options?: RecognizeOptions): Promise<Entity[]>;
  /** Ends the worker and frees the model; pending calls reject. */
  dispose(): void;
}

export default Surligne;
