// q8_relaxed_library.js — the Emscripten JS library (--js-library, CMakeLists.txt) through which the engine
// reaches the relaxed-SIMD q8_0 kernel: a separate small wasm module (engine/wasm_relaxed/q8_relaxed.c),
// embedded base64 as $q8RelaxedWasm by a generated library beside this one.
//
// Each thread (the engine's caller, and every pthread) instantiates the module once, on its first call,
// against the engine's own memory (wasmMemory: shared in the pthreads build, which gets the module built
// for shared memory). Before it is used, the module must
//   1. validate: engines without relaxed SIMD (Node 20 without a flag, Safari, older browsers) refuse it;
//   2. pass a self-test: both of its tiles on an exact case ($q8RelaxedSelfTest). Engines with an early
//      draft of relaxed SIMD (Node 20 with --experimental-wasm-relaxed-simd) validate it and give other
//      numbers.
// Otherwise sl_relaxed_available() answers 0 and the engine keeps its simd128 kernel (engine/simd.c).
//
// The module has two tiles that give the same bits (q8_relaxed.c): `tile` (i32 dot product: one
// instruction on ARM and on x86 with AVX-VNNI) and `tile16` (i16 dot product: faster on x86 without
// AVX-VNNI). JS cannot ask the processor, so each thread times them on its first calls (about 80 ms of
// products, in windows of one then the other) and keeps the faster.
//
// Module options of the factory (read on the caller's thread): surligneKernel = 'wasm-simd128' makes
// sl_relaxed_available() answer 0 (to compare the two kernels in one page); 'wasm-relaxed-i32' or
// 'wasm-relaxed-i16' skips the timing. Module.surligneRelaxed tells what happened there: 'ok',
// 'off', 'unsupported', 'self-test failed: …' or 'error: …'; Module.surligneRelaxedTile, once chosen,
// 'i32' or 'i16'.
mergeInto(LibraryManager.library, {
  // this thread's module: its exports (null when unusable, undefined before the first call), the tile in
  // use once chosen, and the timing of the two until then
  $q8RelaxedState: '={ exports: undefined, status: "", tile: null, ' +
    'trial: { wide: 1, ms: 0, work: 0, calls: 0, total: [0, 0], rate32: 0, ratios: [] } }',

  // The self-test of one tile function, on the exact case below: '' or what went wrong. It runs the tile
  // itself (not a separate probe: an engine with a faulty relaxed dot product may be right or wrong
  // depending on the code around it) on 5 rows x 20 columns (2 panels, the second ragged) x 64 inputs, in
  // memory of the engine (malloc), with weights in [-127, 127] and activations in [1, 127] (extremes
  // included), scales powers of two and quarter-integer biases: every float on the way is exact, so the
  // output must equal the sums computed here, and the columns beyond N (ldo = N + 3) stay untouched.
  $q8RelaxedSelfTest__deps: ['malloc', 'free'],
  $q8RelaxedSelfTest: function(tile, name) {
    var nb = 2, K = 64, N = 20, P = 2, R = 5, ldo = N + 3, stride = 128;
    var qsOff = 0, dOff = P * nb * 512, wsumOff = dOff + P * nb * 64, actOff = wsumOff + P * nb * 64;
    var biasOff = actOff + R * stride, outOff = biasOff + N * 4, bytes = outOff + R * ldo * 4;
    var base = _malloc(bytes + 64);
    if (!base) return 'no memory for the self-test';
    try {
      var p0 = (base + 63) & ~63;
      var u8 = new Uint8Array(wasmMemory.buffer, p0, bytes), i8 = new Int8Array(wasmMemory.buffer, p0, bytes);
      var f32 = new Float32Array(wasmMemory.buffer, p0, bytes >> 2), i32 = new Int32Array(wasmMemory.buffer, p0, bytes >> 2);
      var seed = 12345;
      var rnd = function(n) { // 0 .. n - 1
        seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
        return (seed >>> 8) % n;
      };
      var W = [], U = [], DW = [], DX = [], WS = [], B = [];
      for (var n = 0; n < N; n++) {
        W.push([]);
        for (var k = 0; k < K; k++) W[n].push(k === n ? (n & 1 ? 127 : -127) : rnd(255) - 127);
        DW.push([]);
        WS.push([]);
        for (var b = 0; b < nb; b++) {
          DW[n].push([0.5, 1, 2][rnd(3)]);
          var sum = 0;
          for (k = 0; k < 32; k++) sum += W[n][32 * b + k];
          WS[n].push(sum);
        }
        B.push((rnd(41) - 20) / 4);
      }
      for (var r = 0; r < R; r++) {
        U.push([]);
        for (k = 0; k < K; k++) U[r].push(k === 3 * r ? 127 : k === 3 * r + 1 ? 1 : 1 + rnd(127));
        DX.push([]);
        for (b = 0; b < nb; b++) DX[r].push([0.5, 1, 2][rnd(3)]);
      }
      u8.fill(0);
      for (n = 0; n < N; n++) {
        var p = n >> 4, c = n & 15;
        for (b = 0; b < nb; b++) {
          for (k = 0; k < 32; k++) i8[qsOff + (p * nb + b) * 512 + 64 * (k >> 2) + 4 * c + (k & 3)] = W[n][32 * b + k];
          f32[(dOff >> 2) + (p * nb + b) * 16 + c] = DW[n][b];
          i32[(wsumOff >> 2) + (p * nb + b) * 16 + c] = WS[n][b];
        }
        f32[(biasOff >> 2) + n] = B[n];
      }
      for (r = 0; r < R; r++) {
        for (k = 0; k < K; k++) u8[actOff + r * stride + k] = U[r][k];
        for (b = 0; b < nb; b++) f32[((actOff + r * stride + 64) >> 2) + b] = DX[r][b];
        for (n = 0; n < ldo; n++) f32[(outOff >> 2) + r * ldo + n] = -1e9;
      }
      tile(p0 + outOff, ldo, p0 + actOff, stride, R, p0 + qsOff, p0 + dOff, p0 + wsumOff, N, nb, 0, P, p0 + biasOff);
      f32 = new Float32Array(wasmMemory.buffer, p0, bytes >> 2);
      for (r = 0; r < R; r++) {
        for (n = 0; n < ldo; n++) {
          var want = -1e9;
          if (n < N) {
            want = B[n];
            for (b = 0; b < nb; b++) {
              var dot = 0;
              for (k = 0; k < 32; k++) dot += W[n][32 * b + k] * (U[r][32 * b + k] - 64);
              want += DX[r][b] * DW[n][b] * dot;
            }
          }
          var got = f32[(outOff >> 2) + r * ldo + n];
          if (got !== Math.fround(want)) return name + ': row ' + r + ', column ' + n + ': ' + got + ', not ' + want;
        }
      }
      return '';
    } finally {
      _free(base);
    }
  },

  $q8Relaxed__deps: ['$q8RelaxedState', '$q8RelaxedWasm', '$q8RelaxedSelfTest'],
  $q8Relaxed: function() {
    var state = q8RelaxedState;
    if (state.exports !== undefined) return state.exports;
    state.exports = null;
    try {
      var text = atob(q8RelaxedWasm);
      var bytes = new Uint8Array(text.length);
      for (var i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
      if (!WebAssembly.validate(bytes)) {
        state.status = 'unsupported';
        return null;
      }
      var exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory: wasmMemory } }).exports;
      var failed = q8RelaxedSelfTest(exports.tile, 'tile') || q8RelaxedSelfTest(exports.tile16, 'tile16');
      if (failed) {
        state.status = 'self-test failed: ' + failed;
        return null;
      }
      var kernel = Module['surligneKernel'];
      state.tile = kernel === 'wasm-relaxed-i32' ? exports.tile : kernel === 'wasm-relaxed-i16' ? exports.tile16 : null;
      state.exports = exports;
      state.status = 'ok';
    } catch (e) {
      state.status = 'error: ' + (e && e.message || e);
    }
    return state.exports;
  },

  sl_relaxed_available__deps: ['$q8Relaxed', '$q8RelaxedState'],
  sl_relaxed_available: function() {
    if (Module['surligneKernel'] === 'wasm-simd128') {
      Module['surligneRelaxed'] = 'off';
      return 0;
    }
    var ok = q8Relaxed() ? 1 : 0;
    Module['surligneRelaxed'] = q8RelaxedState.status;
    return ok;
  },

  // The trial: windows of at least TRIAL_WINDOW_MS of one tile, then of the other. The engine first runs
  // a function in a quick tier, and compiles it optimised in the background after a while (later on a
  // busy machine): nothing is counted until each tile has run TRIAL_WARMUP_MS. Then each window of the i16
  // tile is compared with the i32 window just before it (the same work, mostly: the rate, ms per
  // row-panel-block, depends on the shapes), and the median of TRIAL_PAIRS such ratios decides.
  $q8RelaxedTrial__deps: ['$q8RelaxedState'],
  $q8RelaxedTrial: function(k, out, ldo, act, actStride, nr, qs, d, wsum, N, nb, p0, np, bias) {
    var TRIAL_WINDOW_MS = 2, TRIAL_WARMUP_MS = 25, TRIAL_PAIRS = 7;
    var t = q8RelaxedState.trial, wide = t.wide;
    var t0 = performance.now();
    (wide ? k.tile : k.tile16)(out, ldo, act, actStride, nr, qs, d, wsum, N, nb, p0, np, bias);
    t.ms += performance.now() - t0;
    t.work += nr * np * nb;
    if (++t.calls < 2 || t.ms < TRIAL_WINDOW_MS) return;
    var warm = t.total[0] >= TRIAL_WARMUP_MS && t.total[1] >= TRIAL_WARMUP_MS;
    t.total[wide] += t.ms;
    if (warm && wide) t.rate32 = t.ms / t.work;
    else if (warm && t.rate32) t.ratios.push(t.ms / t.work / t.rate32);
    t.ms = t.work = t.calls = 0;
    t.wide ^= 1;
    if (t.ratios.length < TRIAL_PAIRS) return;
    var median = t.ratios.slice().sort(function(a, b) { return a - b; })[TRIAL_PAIRS >> 1];
    q8RelaxedState.tile = median < 1 ? k.tile16 : k.tile;
    // on the caller's thread, for tests and benchmarks (each pthread chooses for itself)
    if (typeof ENVIRONMENT_IS_PTHREAD === 'undefined' || !ENVIRONMENT_IS_PTHREAD) {
      Module['surligneRelaxedTile'] = median < 1 ? 'i16' : 'i32';
      Module['surligneRelaxedTrial'] = { ratios: t.ratios, ms: t.total };
    }
  },

  // The tile (engine/simd.c, tile_wasm_relaxed). The caller's thread chose this kernel, so the module
  // passed its checks there; a pthread where it would not (the same engine: never) cannot compute.
  sl_relaxed_tile__deps: ['$q8Relaxed', '$q8RelaxedState', '$q8RelaxedTrial'],
  sl_relaxed_tile: function(out, ldo, act, actStride, nr, qs, d, wsum, N, nb, p0, np, bias) {
    var state = q8RelaxedState;
    if (!state.tile) {
      var k = state.exports || q8Relaxed();
      if (!k) throw new Error('the relaxed-SIMD kernel is unusable in this thread: ' + state.status);
      if (!state.tile) {
        q8RelaxedTrial(k, out, ldo, act, actStride, nr, qs, d, wsum, N, nb, p0, np, bias);
        return;
      }
    }
    state.tile(out, ldo, act, actStride, nr, qs, d, wsum, N, nb, p0, np, bias);
  },
});
