/* The DTMF receiver's per-sample work: correlate samples with cos and sin of the eight DTMF
 * frequencies (16 float lanes) and sum their energy.
 *
 * Written with GCC/Clang vector extensions, so it compiles to 4-wide SIMD on x86-64 (SSE2)
 * and on the Pi's ARM (NEON) alike. Two samples per iteration, each into its own
 * accumulators, so the additions of one sample do not wait for the other's.
 */
#ifndef EDGEPBX_DTMF_CORRELATE_H
#define EDGEPBX_DTMF_CORRELATE_H

#include <stdint.h>
#include <string.h>

typedef float edgepbx_v4 __attribute__((vector_size(16)));

/* acc[16] += sum over i < n of x[i] * tab[16 * i + lane]; returns energy + sum of x[i]^2. */
static inline float edgepbx_correlate(const int16_t *x, int n, const float *tab, float *acc, float energy)
{
    edgepbx_v4 a[4], b[4], t[4];
    float e0 = energy, e1 = 0.0f;
    int i, k;
    memcpy(a, acc, sizeof(a));
    memset(b, 0, sizeof(b));
    for (i = 0; i + 1 < n; i += 2) {
        float v = (float)x[i], w = (float)x[i + 1];
        memcpy(t, tab + 16 * i, sizeof(t));
        for (k = 0; k < 4; k++)
            a[k] += v * t[k];
        memcpy(t, tab + 16 * (i + 1), sizeof(t));
        for (k = 0; k < 4; k++)
            b[k] += w * t[k];
        e0 += v * v;
        e1 += w * w;
    }
    if (i < n) {
        float v = (float)x[i];
        memcpy(t, tab + 16 * i, sizeof(t));
        for (k = 0; k < 4; k++)
            a[k] += v * t[k];
        e0 += v * v;
    }
    for (k = 0; k < 4; k++)
        a[k] += b[k];
    memcpy(acc, a, sizeof(a));
    return e0 + e1;
}

#endif
