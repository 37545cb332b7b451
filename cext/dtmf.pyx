"""Streaming in-band DTMF detector (Goertzel), the kernel behind edgepbx.dsp.dtmf.

The signal is cut into blocks of 12.75 ms (102 samples at 8 kHz, 204 at 16 kHz) counted
from the start of the stream, so any split of the input into frames gives the same
blocks and so the same digits. Each block's eight DTMF bins are computed with the
Goertzel recurrence while the samples stream through; no sample is buffered.

A block votes for a digit when (a) the strongest row and column tones are each above the
absolute level floor, (b) their twist lies in the accepted window, (c) each dominates the
other tones of its group by 6 dB, and (d) the two tones carry most of the block's energy
(speech and music spread theirs). A digit is reported after two consecutive blocks vote
for it, and released after two blocks that do not.
"""
from libc.math cimport cos, M_PI

cdef double[8] DTMF_FREQS = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0]
DIGITS = "123A456B789C*0#D"
DEF MAX_EVENTS = 64


cdef class GoertzelDtmf:
    """Detector state: Goertzel accumulators, the block being filled, the vote history."""
    cdef readonly int rate
    cdef readonly int block
    cdef double coef[8]
    cdef double s1[8]
    cdef double s2[8]
    cdef double energy
    cdef int filled
    cdef long long block_start
    cdef int cand
    cdef int run
    cdef long long run_start
    cdef int active
    cdef int misses
    cdef double min_tone_ms
    cdef double max_reverse_twist
    cdef double max_normal_twist
    cdef long long ev_start[MAX_EVENTS]
    cdef int ev_digit[MAX_EVENTS]
    cdef int n_ev
    cdef Py_ssize_t _consumed

    def __cinit__(self, int rate=8000):
        if rate not in (8000, 16000):
            raise ValueError("rate must be 8000 or 16000")
        self.rate = rate
        self.block = 102 if rate == 8000 else 204
        for i in range(8):
            self.coef[i] = 2.0 * cos(2.0 * M_PI * DTMF_FREQS[i] / rate)
        # -38 dBm0 per tone: full-scale sine is +3.14 dBm0, mean square 32767^2/2.
        self.min_tone_ms = (32767.0 * 32767.0 / 2.0) * 10.0 ** (-(3.14 + 38.0) / 10.0)
        self.max_normal_twist = 10.0 ** (4.0 / 10.0) * 1.6   # high group above low, with margin
        self.max_reverse_twist = 10.0 ** (8.0 / 10.0) * 1.6  # low group above high, with margin
        self.reset()

    def reset(self):
        """Forget everything: the next sample is stream time zero."""
        for i in range(8):
            self.s1[i] = 0.0
            self.s2[i] = 0.0
        self.energy = 0.0
        self.filled = 0
        self.block_start = 0
        self.cand = -1
        self.run = 0
        self.run_start = 0
        self.active = -1
        self.misses = 0
        self.n_ev = 0

    cdef inline int _classify(self) noexcept nogil:
        cdef double p[8]
        cdef double n = self.block
        cdef int i, row = 0, col = 4
        for i in range(8):
            p[i] = self.s1[i] * self.s1[i] + self.s2[i] * self.s2[i] - self.coef[i] * self.s1[i] * self.s2[i]
            # mean square of the sinusoid at this bin: 2|X|^2 / N^2
            p[i] = 2.0 * p[i] / (n * n)
        for i in range(1, 4):
            if p[i] > p[row]:
                row = i
        for i in range(5, 8):
            if p[i] > p[col]:
                col = i
        if p[row] < self.min_tone_ms or p[col] < self.min_tone_ms:
            return -1
        if p[col] > p[row] * self.max_normal_twist or p[row] > p[col] * self.max_reverse_twist:
            return -1
        for i in range(4):
            if i != row and p[i] * 4.0 > p[row]:
                return -1
        for i in range(4, 8):
            if i != col and p[i] * 4.0 > p[col]:
                return -1
        # the two tones must carry most of the block's mean square
        if (p[row] + p[col]) < 0.6 * (self.energy / n):
            return -1
        return row * 4 + (col - 4)

    cdef inline void _end_block(self) noexcept nogil:
        cdef int digit = self._classify()
        if digit == self.cand:
            self.run += 1
        else:
            self.cand = digit
            self.run = 1
            self.run_start = self.block_start
        if digit >= 0 and digit == self.active:
            self.misses = 0
        elif self.active >= 0:
            self.misses += 1
            if self.misses >= 2:
                self.active = -1
                self.misses = 0
        if digit >= 0 and self.active < 0 and self.run >= 2:
            self.active = digit
            self.misses = 0
            if self.n_ev < MAX_EVENTS:
                self.ev_digit[self.n_ev] = digit
                self.ev_start[self.n_ev] = self.run_start
                self.n_ev += 1
        for i in range(8):
            self.s1[i] = 0.0
            self.s2[i] = 0.0
        self.energy = 0.0
        self.filled = 0
        self.block_start += self.block

    def feed(self, const short[::1] pcm):
        """Feed int16 samples; return [(digit, start_sample), ...] for digits that began."""
        cdef Py_ssize_t pos = 0, total = pcm.shape[0]
        out = []
        while True:
            self.n_ev = 0
            with nogil:
                self._run_from(pcm, pos)
            for i in range(self.n_ev):
                out.append((DIGITS[self.ev_digit[i]], self.ev_start[i]))
            if self._consumed >= total:
                break
            pos = self._consumed
        return out

    cdef void _run_from(self, const short[::1] pcm, Py_ssize_t start) noexcept nogil:
        cdef Py_ssize_t k, n = pcm.shape[0]
        cdef double x, s0
        cdef int i
        for k in range(start, n):
            x = pcm[k]
            self.energy += x * x
            for i in range(8):
                s0 = x + self.coef[i] * self.s1[i] - self.s2[i]
                self.s2[i] = self.s1[i]
                self.s1[i] = s0
            self.filled += 1
            if self.filled == self.block:
                self._end_block()
                if self.n_ev == MAX_EVENTS:
                    self._consumed = k + 1
                    return
        self._consumed = n
