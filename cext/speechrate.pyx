"""Articulation rate from syllable nuclei, streaming (after de Jong and Wempe, 2009).

Every 10 ms: the intensity (dB) over a 64 ms Hann window. A syllable nucleus is an
intensity peak that stands at least 2 dB above the dips on both sides, lies above a threshold
25 dB under the loudest recent speech, 10 dB over the tracked noise floor and over an
absolute floor, and is voiced: the
normalised autocorrelation of the 40 ms around it peaks above 0.45 at a lag of 2.5-16.7 ms
(60-400 Hz). Speech time counts the frames over the threshold, with pauses shorter than
300 ms bridged; the rate is nuclei per second of speech time. Voicing is only computed at
candidate peaks, so the cost is the intensity pass. Runs without the GIL.
"""
from libc.math cimport log10, sqrt, cos, M_PI
from libc.stdlib cimport malloc, free

DEF RING = 32768          # samples kept for the voicing check (> 1 s at 16 kHz)
DEF DIP_DB = 2.0
DEF BELOW_TOP_DB = 25.0
DEF FLOOR_DB = 38.0       # mean square of int16 samples, dB: about -52 dBov
DEF TOP_DECAY_DB = 0.01   # per frame: the loudest-speech reference forgets 1 dB a second
DEF VOICED_R = 0.45
DEF BRIDGE_FRAMES = 30
DEF OVER_FLOOR_DB = 10.0  # speech stands this far over the tracked noise floor
DEF FLOOR_RISE = 0.001    # per frame: the floor creeps up slowly, falls at once


cdef class SpeechRateCore:
    cdef readonly int rate
    cdef int win, hop, vwin, lag_lo, lag_hi
    cdef double* window
    cdef double wsum
    cdef short* ring
    cdef long long total            # samples received
    cdef long long next_frame_end   # sample index (exclusive) that completes the next frame
    cdef long long frame
    cdef double top
    cdef double floor
    cdef bint rising
    cdef double peak_db, dip_db
    cdef long long peak_frame
    cdef readonly long long nuclei
    cdef readonly long long speech_frames
    cdef long long last_sounding
    cdef bint have_sounding

    def __cinit__(self, int rate=8000):
        self.rate = rate
        self.win = <int>(0.064 * rate)
        self.hop = rate // 100
        self.vwin = <int>(0.040 * rate)
        self.lag_lo = rate // 400
        self.lag_hi = rate // 60
        self.window = <double*>malloc(sizeof(double) * self.win)
        self.ring = <short*>malloc(sizeof(short) * RING)
        self.wsum = 0
        for i in range(self.win):
            self.window[i] = 0.5 - 0.5 * cos(2 * M_PI * (i + 0.5) / self.win)
            self.wsum += self.window[i]
        self.reset()

    def __dealloc__(self):
        free(self.window)
        free(self.ring)

    def reset(self):
        self.total = 0
        self.next_frame_end = self.win
        self.frame = 0
        self.top = 0
        self.floor = -1
        self.rising = True
        self.peak_db = -1e9
        self.dip_db = 1e9
        self.peak_frame = -1
        self.nuclei = 0
        self.speech_frames = 0
        self.last_sounding = -1
        self.have_sounding = False

    def feed(self, const short[::1] pcm):
        cdef Py_ssize_t n = pcm.shape[0], i
        with nogil:
            for i in range(n):
                self.ring[self.total % RING] = pcm[i]
                self.total += 1
                if self.total == self.next_frame_end:
                    self._frame()
                    self.next_frame_end += self.hop

    cdef void _frame(self) noexcept nogil:
        cdef long long start = self.total - self.win, f = self.frame
        cdef double acc = 0, v, db, threshold
        cdef int i
        for i in range(self.win):
            v = self.ring[(start + i) % RING]
            acc += self.window[i] * v * v
        db = 10 * log10(acc / self.wsum + 1e-3)
        self.frame += 1
        self.top = self.top - TOP_DECAY_DB
        if db > self.top:
            self.top = db
        if self.floor < 0 or db < self.floor:
            self.floor = db
        else:
            self.floor += FLOOR_RISE * (db - self.floor)
        threshold = self.top - BELOW_TOP_DB
        if threshold < FLOOR_DB:
            threshold = FLOOR_DB
        if threshold < self.floor + OVER_FLOOR_DB:
            threshold = self.floor + OVER_FLOOR_DB
        if db > threshold:
            if self.have_sounding and 1 < f - self.last_sounding <= BRIDGE_FRAMES:
                self.speech_frames += f - self.last_sounding - 1    # a short pause inside speech
            self.speech_frames += 1
            self.last_sounding = f
            self.have_sounding = True
        # peaks and dips with DIP_DB hysteresis
        if self.rising:
            if db > self.peak_db:
                self.peak_db = db
                self.peak_frame = f
            elif db < self.peak_db - DIP_DB:
                if self.peak_db > threshold and self._voiced(self.peak_frame):
                    self.nuclei += 1
                self.rising = False
                self.dip_db = db
        else:
            if db < self.dip_db:
                self.dip_db = db
            elif db > self.dip_db + DIP_DB:
                self.rising = True
                self.peak_db = db
                self.peak_frame = f

    cdef bint _voiced(self, long long f) noexcept nogil:
        """Normalised autocorrelation of the 40 ms around frame f's centre."""
        cdef long long centre = f * self.hop + self.win // 2
        cdef long long start = centre - self.vwin // 2
        cdef int lag, i, n = self.vwin
        cdef double xy, xx, yy, a, b, best = 0
        if start < 0 or start + n + self.lag_hi > self.total or self.total - start > RING:
            return False
        for lag in range(self.lag_lo, self.lag_hi + 1):
            xy = 0
            xx = 0
            yy = 0
            for i in range(n - lag):
                a = self.ring[(start + i) % RING]
                b = self.ring[(start + i + lag) % RING]
                xy += a * b
                xx += a * a
                yy += b * b
            if xx > 0 and yy > 0 and xy / sqrt(xx * yy) > best:
                best = xy / sqrt(xx * yy)
        return best > VOICED_R
