"""Streaming in-band DTMF receiver to ITU-T Q.24 figures: the kernel behind edgepbx.dsp.dtmf.

The signal is cut into half-blocks of 6.375 ms (51 samples at 8 kHz, 102 at 16 kHz) counted
from stream start, so any split of the input gives the same half-blocks and the same digits.
While samples stream through, each half-block is correlated with the eight DTMF frequencies
(16 float lanes per sample, which the compiler vectorises); nothing else runs per sample.

At the end of every half-block the last two halves form a 12.75 ms analysis window:

1. *Which digit*: the strongest row and column bins of the window; each must clear the level
   floor (-38 dBm0) and dominate its own group by 6 dB.
2. *Is it really that pair of tones*: a least-squares fit of exactly those two tones on each
   half gives their complex amplitudes with no leakage between them. The phase advance from
   one half to the next measures each tone's frequency; averaged over the tone so far it must
   lie within 1.9 % of nominal (Q.24: accept at 1.5 %, reject at 3.5 %; musical notes sit 1.7
   to 3 % off several DTMF tones, so the bound is as tight as accepting 1.5 % allows).
   Amplitudes are corrected for the measured offset, giving true levels for the twist window
   (-11..+7 dB: Q.24's -8..+4 with margin).
   The fitted pair must carry 80 % of the window's energy: speech and music spread theirs.
3. *How long*: each half's amplitude relative to the strongest half of the run is the fraction
   of that half the tone covered, so summing them measures the tone's duration to about a
   millisecond. A digit is reported once the tone has lasted 26 ms (Q.24: reject <= 23 ms,
   accept 40 ms), with the estimated start of the tone as its time.
4. *When it ends*: a reported digit holds while both its tones stay within 14 dB of their
   onset level; three silent halves (19 ms) release it. A 10 ms drop-out leaves at most one
   silent half, so it never splits a digit; a 40 ms pause always holds at least five.
"""
from libc.math cimport cos, sin, sqrt, atan2, fabs, M_PI
from libc.string cimport memset, memcpy
from libc.stdint cimport int16_t

cdef extern from "dtmf_correlate.h" nogil:
    float edgepbx_correlate(const int16_t* x, int n, const float* tab, float* acc, float energy)

DIGITS = "123A456B789C*0#D"
DEF MAX_EVENTS = 64
DEF LANES = 16
DEF MAX_HALF = 102

cdef double[8] DTMF_FREQS = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0]

# Decision constants, from Q.24 and the analysis in the module docstring.
cdef double FLOOR_DBM0 = -38.0          # per tone; Q.24: operate to -25, never below -55
cdef double DOMINANCE = 4.0             # power ratio over the rest of the group (6 dB)
cdef double MAX_FREQ_ERROR = 0.019      # fraction of nominal, averaged over the tone so far
cdef double MAX_FREQ_ERROR_WINDOW = 0.03  # the same, in any one window (a coarse first gate)
cdef double MIN_TWIST_DB = -11.0        # high group minus low group
cdef double MAX_TWIST_DB = 7.0
cdef double MIN_PAIR_ENERGY = 0.80      # share of the window's energy in the fitted pair
cdef double MIN_EVENNESS = 0.5          # weaker half / stronger half, per tone, in a voting window
cdef double MIN_DURATION_S = 0.026
cdef double COVER_FLOOR = 0.2           # a half with less than this share of the tone holds none
cdef int RELEASE_HALVES = 3


cdef struct Fit:
    double re_r, im_r, re_c, im_c   # complex amplitudes of the row and column tone in one half


cdef class DtmfCore:
    """Receiver state for one stream. `feed` returns (digit, start sample) for each new digit."""
    cdef readonly int rate
    cdef readonly int half
    cdef float tab[MAX_HALF * LANES]        # cos, sin of each frequency at each offset in a half
    cdef double rot_re[8]                   # e^{-j w H}: carries a half's phase into the next
    cdef double rot_im[8]
    cdef double omega_h[8]                  # w * H, radians per half at the nominal frequency
    cdef double ginv[16][4][4]              # inverse Gram matrix of each digit's two tones
    cdef double min_power                   # |X|^2 over a window of a tone at the level floor
    cdef double min_duration
    # the half being filled
    cdef float acc[LANES]
    cdef float energy
    cdef int filled
    cdef long long halves                   # halves completed since stream start
    # the last three halves, a ring: slot `ring` holds the half completed last
    cdef int ring
    cdef float sums[3][LANES]
    cdef double energies[3]
    # onset tracking
    cdef int cand
    cdef int votes
    cdef double cand_ref_r, cand_ref_c, cand_gain_r, cand_gain_c
    cdef double cover
    cdef double adv_sum_r, adv_sum_c       # phase advance beyond nominal, summed over the run
    # the digit being held
    cdef int active
    cdef int misses
    cdef double act_ref_r, act_ref_c, act_gain_r, act_gain_c
    # digits found during the current feed
    cdef long long ev_start[MAX_EVENTS]
    cdef int ev_digit[MAX_EVENTS]
    cdef int n_ev

    def __cinit__(self, int rate=8000):
        if rate != 8000 and rate != 16000:
            raise ValueError("rate must be 8000 or 16000")
        self.rate = rate
        self.half = 51 if rate == 8000 else 102
        cdef int n, f, a, b, d
        cdef double w
        for f in range(8):
            w = 2.0 * M_PI * DTMF_FREQS[f] / rate
            self.omega_h[f] = w * self.half
            self.rot_re[f] = cos(w * self.half)
            self.rot_im[f] = -sin(w * self.half)
            for n in range(self.half):
                self.tab[n * LANES + 2 * f] = <float>cos(w * n)
                self.tab[n * LANES + 2 * f + 1] = <float>sin(w * n)
        for d in range(16):
            self._build_ginv(d)
        # |X| of a tone of amplitude A over the window of 2H samples is A * H
        self.min_power = (32767.0 * 10.0 ** ((FLOOR_DBM0 - 3.14) / 20.0) * self.half) ** 2
        self.min_duration = MIN_DURATION_S * rate
        self.reset()

    cdef void _build_ginv(self, int d):
        """Gram matrix of (cos, sin) of the digit's row and column tone over one half, inverted."""
        cdef double g[4][8]
        cdef double basis[4]
        cdef int r = d // 4, c = 4 + d % 4, n, i, j, k, p
        cdef double wr = 2.0 * M_PI * DTMF_FREQS[r] / self.rate
        cdef double wc = 2.0 * M_PI * DTMF_FREQS[c] / self.rate
        cdef double piv, fac
        for i in range(4):
            for j in range(8):
                g[i][j] = 1.0 if j == i + 4 else 0.0
        for n in range(self.half):
            basis[0] = cos(wr * n); basis[1] = sin(wr * n)
            basis[2] = cos(wc * n); basis[3] = sin(wc * n)
            for i in range(4):
                for j in range(4):
                    g[i][j] += basis[i] * basis[j]
        for k in range(4):                       # Gauss-Jordan; the matrix is well conditioned
            piv = g[k][k]
            for j in range(8):
                g[k][j] /= piv
            for i in range(4):
                if i != k:
                    fac = g[i][k]
                    for j in range(8):
                        g[i][j] -= fac * g[k][j]
        for i in range(4):
            for j in range(4):
                self.ginv[d][i][j] = g[i][j + 4]

    def reset(self):
        """Forget everything: the next sample is stream time zero."""
        memset(self.acc, 0, sizeof(self.acc))
        memset(self.sums, 0, sizeof(self.sums))
        self.energy = 0.0
        self.energies[0] = self.energies[1] = self.energies[2] = 0.0
        self.filled = 0
        self.halves = 0
        self.ring = 2
        self.cand = -1
        self.votes = 0
        self.cover = 0.0
        self.active = -1
        self.misses = 0
        self.n_ev = 0

    # ---- per-half analysis -------------------------------------------------------------

    cdef inline Fit _fit(self, int d, int slot) noexcept nogil:
        """Least-squares amplitudes of digit d's two tones in one stored half."""
        cdef Fit out
        cdef int r = d // 4, c = 4 + d % 4, i
        cdef double u[4]
        cdef double v[4]
        u[0] = self.sums[slot][2 * r]; u[1] = self.sums[slot][2 * r + 1]
        u[2] = self.sums[slot][2 * c]; u[3] = self.sums[slot][2 * c + 1]
        for i in range(4):
            v[i] = self.ginv[d][i][0] * u[0] + self.ginv[d][i][1] * u[1] \
                 + self.ginv[d][i][2] * u[2] + self.ginv[d][i][3] * u[3]
        # x ~ p cos(wn) + q sin(wn) = Re(z e^{jwn}) with z = p - jq
        out.re_r = v[0]; out.im_r = -v[1]
        out.re_c = v[2]; out.im_c = -v[3]
        return out

    cdef inline double _advance(self, int f, double re0, double im0, double re1, double im1) noexcept nogil:
        """Phase advance of a tone from one half to the next beyond the nominal: radians."""
        cdef double re = re1 * re0 + im1 * im0       # z1 * conj(z0)
        cdef double im = im1 * re0 - re1 * im0
        cdef double rr = re * self.rot_re[f] - im * self.rot_im[f]
        cdef double ii = re * self.rot_im[f] + im * self.rot_re[f]
        return atan2(ii, rr)

    cdef inline double _gain(self, double advance) noexcept nogil:
        """Amplitude a half's fit reports for a tone whose phase drifts by `advance` over it."""
        cdef double x = 0.5 * advance
        if fabs(x) < 1e-6:
            return 1.0
        return sin(x) / x

    cdef int _vote(self, int prev, int cur, double* amp_r, double* amp_c,
                   double* gain_r, double* gain_c, double* adv) noexcept nogil:
        """The digit the window (prev, cur) carries, or -1. Fills the tones' per-half amplitudes."""
        cdef double p[8]
        cdef double xr, xi, yr, yi
        cdef int f, row = 0, col = 4, d
        for f in range(8):
            xr = self.sums[prev][2 * f]; xi = -self.sums[prev][2 * f + 1]
            yr = self.sums[cur][2 * f]; yi = -self.sums[cur][2 * f + 1]
            xr = xr + yr * self.rot_re[f] - yi * self.rot_im[f]
            xi = xi + yr * self.rot_im[f] + yi * self.rot_re[f]
            p[f] = xr * xr + xi * xi
        for f in range(1, 4):
            if p[f] > p[row]:
                row = f
        for f in range(5, 8):
            if p[f] > p[col]:
                col = f
        if p[row] < self.min_power or p[col] < self.min_power:
            return -1
        for f in range(4):
            if f != row and p[f] * DOMINANCE > p[row]:
                return -1
        for f in range(4, 8):
            if f != col and p[f] * DOMINANCE > p[col]:
                return -1
        d = row * 4 + (col - 4)
        cdef Fit a = self._fit(d, prev)
        cdef Fit b = self._fit(d, cur)
        cdef double adv_r = self._advance(row, a.re_r, a.im_r, b.re_r, b.im_r)
        cdef double adv_c = self._advance(col, a.re_c, a.im_c, b.re_c, b.im_c)
        if fabs(adv_r) > MAX_FREQ_ERROR_WINDOW * self.omega_h[row] \
                or fabs(adv_c) > MAX_FREQ_ERROR_WINDOW * self.omega_h[col]:
            return -1
        adv[0] = adv_r
        adv[1] = adv_c
        gain_r[0] = self._gain(adv_r)
        gain_c[0] = self._gain(adv_c)
        amp_r[0] = sqrt(a.re_r * a.re_r + a.im_r * a.im_r) / gain_r[0]
        amp_r[1] = sqrt(b.re_r * b.re_r + b.im_r * b.im_r) / gain_r[0]
        amp_c[0] = sqrt(a.re_c * a.re_c + a.im_c * a.im_c) / gain_c[0]
        amp_c[1] = sqrt(b.re_c * b.re_c + b.im_c * b.im_c) / gain_c[0]
        if amp_r[0] < MIN_EVENNESS * amp_r[1] or amp_r[1] < MIN_EVENNESS * amp_r[0]:
            return -1
        if amp_c[0] < MIN_EVENNESS * amp_c[1] or amp_c[1] < MIN_EVENNESS * amp_c[0]:
            return -1
        cdef double lr = amp_r[0] + amp_r[1], lc = amp_c[0] + amp_c[1]
        if lc < lr * 10.0 ** (MIN_TWIST_DB / 20.0) or lc > lr * 10.0 ** (MAX_TWIST_DB / 20.0):
            return -1
        cdef double pair = 0.5 * self.half * (amp_r[0] * amp_r[0] + amp_r[1] * amp_r[1]
                                             + amp_c[0] * amp_c[0] + amp_c[1] * amp_c[1])
        if pair < MIN_PAIR_ENERGY * (self.energies[prev] + self.energies[cur]):
            return -1
        return d

    cdef inline double _coverage(self, int d, int slot, double ref_r, double ref_c,
                                 double gain_r, double gain_c) noexcept nogil:
        """Share of a half that digit d's tones filled, from their amplitude against the reference."""
        cdef Fit a = self._fit(d, slot)
        cdef double cr = sqrt(a.re_r * a.re_r + a.im_r * a.im_r) / gain_r / ref_r
        cdef double cc = sqrt(a.re_c * a.re_c + a.im_c * a.im_c) / gain_c / ref_c
        cdef double cov = cr if cr < cc else cc
        if cov < COVER_FLOOR:
            return 0.0
        return 1.0 if cov > 1.0 else cov

    cdef void _end_half(self) noexcept nogil:
        cdef long long h = self.halves
        cdef int cur = self.ring + 1 if self.ring < 2 else 0
        cdef int prev = self.ring
        cdef int before = prev - 1 if prev > 0 else 2
        self.ring = cur
        cdef double amp_r[2]
        cdef double amp_c[2]
        cdef double gain_r = 1.0, gain_c = 1.0
        cdef double adv[2]
        cdef int d = -1
        memcpy(self.sums[cur], self.acc, sizeof(self.acc))
        self.energies[cur] = self.energy
        memset(self.acc, 0, sizeof(self.acc))
        self.energy = 0.0
        self.filled = 0
        self.halves += 1
        if h < 1:
            return
        # hold or release the digit reported last
        if self.active >= 0:
            if self._coverage(self.active, cur, self.act_ref_r, self.act_ref_c,
                              self.act_gain_r, self.act_gain_c) > 0.0:
                self.misses = 0
            else:
                self.misses += 1
                if self.misses >= RELEASE_HALVES:
                    self.active = -1
        d = self._vote(prev, cur, amp_r, amp_c, &gain_r, &gain_c, adv)
        if d < 0:
            self.cand = -1
            self.votes = 0
            return
        if d != self.cand:
            self.cand = d
            self.votes = 1
            self.cand_ref_r = amp_r[0] if amp_r[0] > amp_r[1] else amp_r[1]
            self.cand_ref_c = amp_c[0] if amp_c[0] > amp_c[1] else amp_c[1]
            self.cand_gain_r = gain_r
            self.cand_gain_c = gain_c
            self.adv_sum_r = adv[0]
            self.adv_sum_c = adv[1]
            self.cover = self._coverage(d, prev, self.cand_ref_r, self.cand_ref_c, gain_r, gain_c) \
                + self._coverage(d, cur, self.cand_ref_r, self.cand_ref_c, gain_r, gain_c)
            if h >= 2:
                self.cover += self._coverage(d, before, self.cand_ref_r, self.cand_ref_c, gain_r, gain_c)
        else:
            self.votes += 1
            self.adv_sum_r += adv[0]
            self.adv_sum_c += adv[1]
            if amp_r[1] > self.cand_ref_r:
                self.cand_ref_r = amp_r[1]
            if amp_c[1] > self.cand_ref_c:
                self.cand_ref_c = amp_c[1]
            self.cover += self._coverage(d, cur, self.cand_ref_r, self.cand_ref_c, gain_r, gain_c)
        if d != self.active and self.votes >= 2 and self.cover * self.half >= self.min_duration \
                and fabs(self.adv_sum_r) <= MAX_FREQ_ERROR * self.omega_h[d // 4] * self.votes \
                and fabs(self.adv_sum_c) <= MAX_FREQ_ERROR * self.omega_h[4 + d % 4] * self.votes:
            self.active = d
            self.misses = 0
            self.act_ref_r = self.cand_ref_r
            self.act_ref_c = self.cand_ref_c
            self.act_gain_r = self.cand_gain_r
            self.act_gain_c = self.cand_gain_c
            if self.n_ev < MAX_EVENTS:
                self.ev_digit[self.n_ev] = d
                self.ev_start[self.n_ev] = (h + 1) * self.half - <long long>(self.cover * self.half + 0.5)
                self.n_ev += 1

    # ---- the sample loop ---------------------------------------------------------------

    cdef Py_ssize_t _run(self, const short* x, Py_ssize_t n) noexcept nogil:
        """Consume samples until done or the event buffer is full; return how many were used."""
        cdef Py_ssize_t k = 0, m
        while k < n:
            m = self.half - self.filled
            if m > n - k:
                m = n - k
            self.energy = edgepbx_correlate(<const int16_t*>x + k, <int>m,
                                            &self.tab[self.filled * LANES], self.acc, self.energy)
            self.filled += <int>m
            k += m
            if self.filled == self.half:
                self._end_half()
                if self.n_ev == MAX_EVENTS:
                    break
        return k

    def feed(self, pcm):
        """Feed int16 samples (contiguous int16 array, or little-endian bytes).

        Returns [(digit, start_sample), ...] for the digits that began in this input.
        """
        cdef const short[::1] view
        cdef const unsigned char[::1] raw
        cdef const short* x
        cdef Py_ssize_t n, done = 0, used
        if isinstance(pcm, bytes):
            raw = pcm
            if raw.shape[0] % 2:
                raise ValueError("PCM bytes must hold whole 16-bit samples (odd length given)")
            n = raw.shape[0] // 2
            x = <const short*>&raw[0] if n else NULL
        else:
            view = pcm
            n = view.shape[0]
            x = &view[0] if n else NULL
        out = []
        while done < n:
            self.n_ev = 0
            with nogil:
                used = self._run(x + done, n - done)
            done += used
            for i in range(self.n_ev):
                out.append((DIGITS[self.ev_digit[i]], self.ev_start[i]))
        return out

