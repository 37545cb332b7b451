"""Time-scale modification that keeps pitch: WSOLA (Verhelst and Roelands, 1993).

The output is built from 30 ms Hann-windowed input segments overlapped by half. Each next
segment is taken near its nominal input position (output time x tempo), moved within ±10 ms
to where it best continues the segment before it (cross-correlation with the input that
followed that segment), so waveforms join in phase: no clicks, no pitch change. The search is
coarse-to-fine (every fourth lag on every fourth sample, then each lag within three of the
best on every second sample).
Runs without the GIL.
"""
from libc.math cimport cos, M_PI, ceil

import numpy as np


cdef Py_ssize_t _best_lag(const double[::1] xp, Py_ssize_t target, Py_ssize_t lo, Py_ssize_t hi,
                          int lag_step, int n, int sample_step) noexcept nogil:
    """The lag in lo..hi (every lag_step-th) whose segment correlates best with the one at
    `target`, over n samples taken every sample_step-th."""
    cdef Py_ssize_t lag = lo, best = lo, i
    cdef double score, top = -1e300
    while lag <= hi:
        score = 0
        i = 0
        while i < n:
            score += xp[target + i] * xp[lag + i]
            i += sample_step
        if score > top:
            top = score
            best = lag
        lag += lag_step
    return best


def wsola(const double[::1] x, double tempo, int rate):
    """`x` played at `tempo` (0.75: a third longer, same pitch) -> float64 array of
    round(len(x) / tempo) samples."""
    if not 0.25 <= tempo <= 4.0:
        raise ValueError(f"tempo must be 0.25..4, got {tempo}")
    cdef Py_ssize_t n = x.shape[0]
    cdef int N = (<int>(0.030 * rate)) // 2 * 2, hs = N // 2, delta = <int>(0.010 * rate)
    cdef Py_ssize_t out_len = <Py_ssize_t>(n / tempo + 0.5)
    cdef Py_ssize_t frames = <Py_ssize_t>ceil(<double>out_len / hs) + 1
    cdef Py_ssize_t reach = <Py_ssize_t>(frames * hs * tempo) + 4 * delta + 2 * N
    pad = np.zeros(max(n + 2 * delta, reach) + N)
    pad[delta:delta + n] = x
    cdef double[::1] xp = pad
    out = np.zeros(frames * hs + N)
    cdef double[::1] y = out
    window = 0.5 - 0.5 * np.cos(2 * M_PI * np.arange(N) / N)   # periodic Hann: halves sum to 1
    cdef double[::1] w = window
    cdef Py_ssize_t k, pos, prev = delta, target, nominal, lo, hi, best, i, limit = pad.shape[0] - N
    with nogil:
        for k in range(frames):
            nominal = delta + <Py_ssize_t>(k * hs * tempo + 0.5)
            if k == 0:
                pos = nominal
            else:
                target = prev + hs
                lo = nominal - delta
                hi = nominal + delta
                if lo < 0:
                    lo = 0
                if hi > limit:
                    hi = limit
                best = _best_lag(xp, target, lo, hi, 4, N, 4)
                lo = best - 3 if best - 3 >= 0 else 0
                hi = best + 3 if best + 3 <= limit else limit
                best = _best_lag(xp, target, lo, hi, 1, N, 2)
                pos = best
            if pos > limit:
                pos = limit
            for i in range(N):
                y[k * hs + i] += w[i] * xp[pos + i]
            prev = pos
    return out[:out_len]
