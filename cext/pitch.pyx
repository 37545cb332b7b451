"""Pitch (F0) per 10 ms frame, for Mandarin tone in voice keys.

Frame i is the MFCC frame i (samples [i*hop, i*hop + win)); its pitch is found in a 40 ms
window centred on that frame by the normalised cross-correlation function (NCCF, as in RAPT /
Talkin 1995) over lags for 60..400 Hz, the best peak refined by a parabola. A frame is voiced
when its NCCF peak reaches VOICED. Octave errors are damped by preferring the shortest lag
whose NCCF is within 0.9 of the best (a period's multiples correlate almost as well as it).
Runs without the GIL.
"""
from libc.math cimport sqrt, log2
from libc.stdlib cimport malloc, free

import numpy as np

DEF LO_HZ = 60.0
DEF HI_HZ = 400.0


def pitch_frames(const short[::1] pcm, int frames, int rate=8000, int hop=80, int win=200, double voiced=0.45):
    """(f0_hz, nccf) float32 arrays of `frames` frames; f0 is 0 where unvoiced."""
    cdef int span = rate // 25                  # 40 ms analysis window
    cdef int lag_lo = <int>(rate / HI_HZ), lag_hi = <int>(rate / LO_HZ) + 1
    cdef Py_ssize_t n = pcm.shape[0]
    f0_out = np.zeros(frames, np.float32)
    nc_out = np.zeros(frames, np.float32)
    cdef float[::1] f0 = f0_out
    cdef float[::1] nc = nc_out
    cdef double* r = <double*>malloc(sizeof(double) * (lag_hi + 2))
    cdef int i, lag, k, best
    cdef long start
    cdef double e0, e1, xy, top, a, b, c, shift
    if r == NULL:
        raise MemoryError()
    with nogil:
        for i in range(frames):
            start = <long>i * hop + win // 2 - span // 2
            if start < 0 or start + span + lag_hi > n:
                continue
            e0 = 0
            for k in range(span):
                e0 = e0 + <double>pcm[start + k] * pcm[start + k]
            if e0 <= 1e3:
                continue
            top = 0
            e1 = 0
            for k in range(span):
                e1 = e1 + <double>pcm[start + lag_lo + k] * pcm[start + lag_lo + k]
            for lag in range(lag_lo, lag_hi + 1):
                if lag > lag_lo:        # slide the lagged window's energy by one sample
                    e1 = e1 - <double>pcm[start + lag - 1] * pcm[start + lag - 1] \
                            + <double>pcm[start + lag - 1 + span] * pcm[start + lag - 1 + span]
                xy = 0
                for k in range(span):
                    xy = xy + <double>pcm[start + k] * pcm[start + lag + k]
                r[lag] = xy / sqrt(e0 * e1 + 1.0)
                if r[lag] > top:
                    top = r[lag]
            if top < voiced:
                nc[i] = <float>top
                continue
            best = -1
            for lag in range(lag_lo + 1, lag_hi):      # the shortest local peak near the best
                if r[lag] >= 0.9 * top and r[lag] >= r[lag - 1] and r[lag] >= r[lag + 1]:
                    best = lag
                    break
            if best < 0:
                continue
            a, b, c = r[best - 1], r[best], r[best + 1]
            shift = 0
            if a - 2 * b + c < 0:
                shift = 0.5 * (a - c) / (a - 2 * b + c)
            f0[i] = <float>(rate / (best + shift))
            nc[i] = <float>b
    free(r)
    return f0_out, nc_out
