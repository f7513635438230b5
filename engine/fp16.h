/* IEEE 754 half precision (fp16, binary16): the engine's one converter each way, used by the q8_0 block
   scales (quant.h), f16 tensors in GGUF and safetensors, and the f16 model files that quantize writes. */
#ifndef SL_FP16_H
#define SL_FP16_H

#include <stdint.h>
#include <string.h>

/* IEEE 754 half precision -> single, exact (subnormals, infinities and NaNs included). The 15 low bits,
   shifted into place, are a float 2^112 times too small whose exponent field holds the half's: one
   multiply rebiases normals and normalises subnormals alike. Inline: the kernels call it per block. */
static inline float sl_fp16_to_fp32(uint16_t h) {
    uint32_t bits = (uint32_t)(h & 0x7fff) << 13;
    float f;
    if ((h & 0x7c00) == 0x7c00) {
        bits |= 0x7f800000u; /* infinity or NaN: all exponent bits, the mantissa kept */
    } else {
        memcpy(&f, &bits, sizeof f);
        f *= 0x1p112f;
        memcpy(&bits, &f, sizeof bits);
    }
    bits |= (uint32_t)(h & 0x8000) << 16;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Single -> half, rounding to nearest even; beyond the half range gives infinity, NaN stays NaN. */
static inline uint16_t sl_fp32_to_fp16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff); /* NaN, kept quiet */
    if (ax >= 0x477ff000u) return sign | 0x7c00; /* >= 65520 (halfway above 65504, the largest): infinity */
    if (ax < 0x38800000u) {                      /* below 2^-14: a subnormal half, in units of 2^-24 */
        const uint32_t e = ax >> 23;
        if (e < 102) return sign;                        /* below 2^-25: rounds to zero */
        const uint32_t m = (ax & 0x7fffffu) | 0x800000u; /* |f| = m * 2^(e - 150) = (m >> (126 - e)) units */
        const int shift = 126 - (int)e;                  /* 14 .. 24 */
        uint32_t q = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++; /* may carry into the smallest normal: right */
        return sign | (uint16_t)q;
    }
    const uint32_t h = ax - (112u << 23); /* rebias the exponent from 127 to 15 */
    uint32_t q = h >> 13;
    const uint32_t rem = h & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (q & 1))) q++; /* a carry into the exponent is right too */
    return sign | (uint16_t)q;
}

#endif
