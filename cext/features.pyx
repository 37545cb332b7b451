"""Streaming speech features for voice keys and speech rate: MFCC and log energy per 10 ms.

Frames of 25 ms every 10 ms, counted from stream start (any split of the input gives the
same frames). Each frame: pre-emphasis 0.97, Hamming window, a 256-point (8 kHz) or 512-point
(16 kHz) FFT, a mel filterbank of NUM_MEL triangles from 100 to 3800 Hz (telephone band, the
same bands at both rates), log, and a DCT-II to NUM_CEPS cepstra (c0 replaced by log energy).
The hot loop runs without the GIL.
"""
from libc.math cimport cos, sin, log, sqrt, M_PI, floor
from libc.string cimport memset, memcpy
from libc.stdlib cimport malloc, free

import numpy as np

DEF NUM_MEL = 24
DEF NUM_CEPS = 13
DEF MAX_FFT = 512
DEF MAX_HALF_FFT = 256
DEF MAX_WIN = 400


cdef inline double _mel(double hz) noexcept nogil:
    return 2595.0 * log(1.0 + hz / 700.0) / log(10.0)


cdef class MfccCore:
    """Feed int16 samples; get (frames x NUM_CEPS) float32 arrays of the frames completed."""
    cdef readonly int rate
    cdef readonly int win
    cdef readonly int hop
    cdef int nfft
    cdef double window[MAX_WIN]
    cdef double cos_t[MAX_HALF_FFT]
    cdef double sin_t[MAX_HALF_FFT]
    cdef int bitrev[MAX_FFT]
    cdef double fb_lo[NUM_MEL]
    cdef double fb_mid[NUM_MEL]
    cdef double fb_hi[NUM_MEL]
    cdef double dct[NUM_CEPS][NUM_MEL]
    cdef short buf[MAX_WIN]
    cdef int filled
    cdef short last      # the sample before the window, for pre-emphasis across frames
    cdef long long frames

    def __cinit__(self, int rate=8000):
        if rate != 8000 and rate != 16000:
            raise ValueError("rate must be 8000 or 16000")
        self.rate = rate
        self.win = rate // 40          # 25 ms
        self.hop = rate // 100         # 10 ms
        self.nfft = 256 if rate == 8000 else 512
        cdef int i, j, bits = 0, n = self.nfft, r
        for i in range(self.win):
            self.window[i] = 0.54 - 0.46 * cos(2.0 * M_PI * i / (self.win - 1))
        for i in range(n // 2):
            self.cos_t[i] = cos(2.0 * M_PI * i / n)
            self.sin_t[i] = -sin(2.0 * M_PI * i / n)
        while (1 << bits) < n:
            bits += 1
        for i in range(n):
            r = 0
            for j in range(bits):
                if i & (1 << j):
                    r |= 1 << (bits - 1 - j)
            self.bitrev[i] = r
        cdef double lo = _mel(100.0), hi = _mel(3800.0), step = (hi - lo) / (NUM_MEL + 1)
        cdef double edges[NUM_MEL + 2]
        for i in range(NUM_MEL + 2):
            edges[i] = 700.0 * (10.0 ** ((lo + i * step) / 2595.0) - 1.0)
        for i in range(NUM_MEL):
            self.fb_lo[i] = edges[i]
            self.fb_mid[i] = edges[i + 1]
            self.fb_hi[i] = edges[i + 2]
        for i in range(NUM_CEPS):
            for j in range(NUM_MEL):
                self.dct[i][j] = cos(M_PI * i * (j + 0.5) / NUM_MEL) * sqrt(2.0 / NUM_MEL)
        self.reset()

    def reset(self):
        self.filled = 0
        self.last = 0
        self.frames = 0

    cdef void _frame(self, float* out) noexcept nogil:
        cdef double re[MAX_FFT]
        cdef double im[MAX_FFT]
        cdef double power[MAX_HALF_FFT + 1]
        cdef double mel[NUM_MEL]
        cdef int i, j, k, n = self.nfft, half, step, idx
        cdef double prev = self.last, x, tr, ti, energy = 1e-3, hz, w, bin_hz
        memset(re, 0, sizeof(double) * n)
        memset(im, 0, sizeof(double) * n)
        for i in range(self.win):
            x = self.buf[i]
            re[self.bitrev[i]] = (x - 0.97 * prev) * self.window[i]
            energy += x * x
            prev = x
        half = 1
        while half < n:
            step = n // (2 * half)
            i = 0
            while i < n:
                for j in range(half):
                    idx = j * step
                    k = i + j + half
                    tr = re[k] * self.cos_t[idx] - im[k] * self.sin_t[idx]
                    ti = re[k] * self.sin_t[idx] + im[k] * self.cos_t[idx]
                    re[k] = re[i + j] - tr
                    im[k] = im[i + j] - ti
                    re[i + j] += tr
                    im[i + j] += ti
                i += 2 * half
            half *= 2
        for i in range(n // 2 + 1):
            power[i] = re[i] * re[i] + im[i] * im[i]
        bin_hz = <double>self.rate / n
        for j in range(NUM_MEL):
            mel[j] = 1e-3
            for i in range(<int>(self.fb_lo[j] / bin_hz) + 1, <int>(self.fb_hi[j] / bin_hz) + 1):
                hz = i * bin_hz
                if hz <= self.fb_mid[j]:
                    w = (hz - self.fb_lo[j]) / (self.fb_mid[j] - self.fb_lo[j])
                else:
                    w = (self.fb_hi[j] - hz) / (self.fb_hi[j] - self.fb_mid[j])
                if w > 0:
                    mel[j] += w * power[i]
            mel[j] = log(mel[j])
        for i in range(NUM_CEPS):
            x = 0.0
            for j in range(NUM_MEL):
                x += self.dct[i][j] * mel[j]
            out[i] = <float>x
        out[0] = <float>log(energy / self.win)   # c0: log energy per sample

    def feed(self, const short[::1] pcm):
        """Returns an array (frames, 13) for the frames this input completed."""
        cdef Py_ssize_t n = pcm.shape[0], pos = 0, take
        cdef Py_ssize_t count = (self.filled + n - self.win) // self.hop + 1 if self.filled + n >= self.win else 0
        out = np.zeros((max(count, 0), NUM_CEPS), dtype=np.float32)
        cdef float[:, ::1] o = out
        cdef Py_ssize_t made = 0
        with nogil:
            while pos < n:
                take = self.win - self.filled
                if take > n - pos:
                    take = n - pos
                memcpy(&self.buf[self.filled], &pcm[pos], take * sizeof(short))
                self.filled += <int>take
                pos += take
                if self.filled == self.win:
                    if made < count:
                        self._frame(&o[made, 0])
                        made += 1
                    self.last = self.buf[self.hop - 1]
                    memcpy(&self.buf[0], &self.buf[self.hop], (self.win - self.hop) * sizeof(short))
                    self.filled = self.win - self.hop
                    self.frames += 1
        return out[:made]
