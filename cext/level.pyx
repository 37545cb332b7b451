"""Active speech level, ITU-T P.56 method B (as in the ITU-T G.191 `sv56` tool).

The rectified signal is smoothed twice (time constant 30 ms); for each of 16 thresholds
c_j = 2^j (16-bit units) a sample counts as active while the envelope is at or above c_j, or
within 200 ms of having been. The active level is where the level over active samples stands
M = 15.9 dB above the threshold, interpolated between thresholds in dB. One pass, no GIL.
"""
from libc.math cimport exp, log10, fabs, sqrt

import numpy as np

DEF N_THRESH = 16
DEF MARGIN_DB = 15.9


def p56(const double[::1] x, double rate):
    """(active level in dB relative to a full-scale 16-bit square wave (dBov), activity 0..1).
    (-inf, 0) for silence."""
    cdef Py_ssize_t n = x.shape[0], i
    cdef int j, hang = <int>(0.2 * rate + 0.5)
    cdef double g = exp(-1.0 / (rate * 0.03)), p = 0, q = 0, s = 0, v
    cdef double c[N_THRESH]
    cdef long long a[N_THRESH]
    cdef int h[N_THRESH]
    for j in range(N_THRESH):
        c[j] = 2.0 ** j
        a[j] = 0
        h[j] = hang
    with nogil:
        for i in range(n):
            v = x[i]
            s += v * v
            p = g * p + (1 - g) * fabs(v)
            q = g * q + (1 - g) * p
            for j in range(N_THRESH):
                if q >= c[j]:
                    a[j] += 1
                    h[j] = 0
                elif h[j] < hang:
                    a[j] += 1
                    h[j] += 1
    if n == 0 or s == 0:
        return float("-inf"), 0.0
    full = 32768.0 ** 2
    cdef double level_prev = 0, diff_prev = 0, level_j, diff_j
    for j in range(N_THRESH):
        if a[j] == 0:
            break
        level_j = 10 * log10(s / a[j] / full)
        diff_j = level_j - 20 * log10(c[j] / 32768.0)
        if diff_j <= MARGIN_DB:
            if j == 0:
                return level_j, a[j] / <double>n
            # interpolate (in dB) between threshold j-1 and j where the margin is met
            frac = (diff_prev - MARGIN_DB) / (diff_prev - diff_j)
            level = level_prev + frac * (level_j - level_prev)
            activity_db = 10 * log10(a[j - 1] / <double>n) + frac * (10 * log10(a[j] / <double>n) - 10 * log10(a[j - 1] / <double>n))
            return level, 10 ** (activity_db / 10)
        level_prev, diff_prev = level_j, diff_j
    # the margin is never reached: the whole signal is active (e.g. a steady tone)
    return 10 * log10(s / n / full), 1.0
