/* The ceiling of WebAssembly simd128 int8 arithmetic on the machine it runs on: a loop of nothing but
   i32x4.dot_i16x8_s and i32x4.add (8 independent accumulators, 2 loads per 8 dot products), the best a
   simd128 int8 matrix product could do (README.md, "Speed"). Not part of the build:
     NODE_PATH=/usr/share/nodejs emcc -O2 -msimd128 tools/bench/simd128_peak.c -o build/simd128_peak.cjs
     node -e 'globalThis.fetch = undefined; global.Module = {wasmBinary: require("fs").readFileSync(
       "build/simd128_peak.wasm")}; require("./build/simd128_peak.cjs")'
   (the wasmBinary detour: emcc 3.1.6's glue fetch()es a file path in Node 20). */
#include <stdio.h>
#include <time.h>
#include <wasm_simd128.h>
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}
static short data[8 * 64];
__attribute__((noinline)) v128_t run(long n, v128_t b) {
    v128_t acc[8], bs[4];
    for (int i = 0; i < 8; i++) acc[i] = wasm_i32x4_splat(i);
    for (int i = 0; i < 4; i++) bs[i] = wasm_i16x8_add(b, wasm_i16x8_splat((short)i));
    for (long k = 0; k < n; k++) {
        const v128_t a = wasm_v128_load(data + (k & 63) * 8), a2 = wasm_v128_load(data + ((k + 1) & 63) * 8);
        for (int i = 0; i < 4; i++) {
            acc[i] = wasm_i32x4_add(acc[i], wasm_i32x4_dot_i16x8(a, bs[i]));
            acc[4 + i] = wasm_i32x4_add(acc[4 + i], wasm_i32x4_dot_i16x8(a2, bs[i]));
        }
    }
    v128_t s = acc[0];
    for (int i = 1; i < 8; i++) s = wasm_i32x4_add(s, acc[i]);
    return s;
}
int main(void) {
    for (int i = 0; i < 8 * 64; i++) data[i] = (short)(i * 7 % 255 - 127);
    v128_t b = wasm_i16x8_splat(5);
    long n = 50000000;
    run(1000, b);
    double best = 1e9;
    v128_t r;
    for (int rep = 0; rep < 3; rep++) {
        double t = now_s();
        r = run(n, b);
        t = now_s() - t;
        if (t < best) best = t;
    }
    printf("dot_i16x8+add: %.1f G MAC/s (%d)\n", n * 8.0 * 8 / best / 1e9, wasm_i32x4_extract_lane(r, 0));
}
