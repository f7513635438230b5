/* The ceiling of the native int8 product on an x86-64 processor with AVX-512 VNNI: a loop of nothing but
   vpdpbusd (16 independent accumulators, operands in registers), on 512-bit and 256-bit registers; the
   best any int8 matrix product could do on one core (README.md, "Speed"). Not part of the build:
     gcc -O2 tools/bench/vnni_peak.c -o build/vnni_peak && build/vnni_peak */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

enum { ACC = 16 };

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* n x ACC vpdpbusd on zmm; returns the seconds, *sink a sum that keeps the work alive */
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) static double run512(long n, int *sink) {
    __m512i acc[ACC];
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_epi32(i);
    const __m512i w = _mm512_set1_epi8(3), x = _mm512_set1_epi8(5);
    const double t0 = now_s();
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 16 /* accumulators in registers */
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_dpbusd_epi32(acc[i], w, x);
    }
    const double t = now_s() - t0;
    int s = 0;
    for (int i = 0; i < ACC; i++) s += _mm512_reduce_add_epi32(acc[i]);
    *sink = s;
    return t;
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"), noinline)) static double run256(long n, int *sink) {
    __m256i acc[ACC];
    for (int i = 0; i < ACC; i++) acc[i] = _mm256_set1_epi32(i);
    const __m256i w = _mm256_set1_epi8(3), x = _mm256_set1_epi8(5);
    const double t0 = now_s();
    for (long k = 0; k < n; k++) {
#pragma GCC unroll 16
        for (int i = 0; i < ACC; i++) acc[i] = _mm256_dpbusd_epi32(acc[i], w, x);
    }
    const double t = now_s() - t0;
    int s = 0;
    for (int i = 0; i < ACC; i++) s += _mm256_extract_epi32(acc[i], 0);
    *sink = s;
    return t;
}

int main(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512vl")) {
        fprintf(stderr, "vnni_peak: this processor has no AVX-512 VNNI\n");
        return 1;
    }
    const long n = 20000000;
    int sink;
    for (int round = 0; round < 3; round++) { /* the first rounds let the clock settle */
        const double t512 = run512(n, &sink), t256 = run256(n, &sink);
        printf("vpdpbusd zmm %.0f GMAC/s, ymm %.0f GMAC/s (%d)\n", (double)n * ACC * 64 / t512 / 1e9,
               (double)n * ACC * 32 / t256 / 1e9, sink);
    }
    return 0;
}
