"""FSK caller-ID demodulator: tone discriminator and asynchronous (UART) framing.

Discriminator: the signal is correlated with the mark and the space tone over a sliding window
one bit long (the matched filter for a bit of constant tone); the soft bit is the difference of
the two correlation energies, positive for mark (binary 1). Framing follows ETSI EN 300 659-1 /
Telcordia GR-30: after a run of marks (the "mark signal" that ends the channel seizure), each
byte is a space start bit, 8 data bits LSB first and a mark stop bit, with up to 10 mark bits
between bytes. The start-bit edge is located to a fraction of a sample (6.7 samples a bit at
8 kHz) and every bit of the byte is read at its centre; a byte's timing is refined by the edge,
so the clocks of sender and receiver may differ by the standard's +-1 %.

Nothing here judges a message: the caller checks the length and the checksum.
"""
from libc.math cimport cos, sin, sqrt, M_PI, floor

import numpy as np


def tone_magnitudes(const double[::1] x, double rate, double mark_hz, double space_hz, double baud):
    """Per sample: (mark, space) correlation magnitudes over the bit-long window ending there."""
    cdef Py_ssize_t n = x.shape[0], i
    cdef int w = <int>(rate / baud + 0.5)
    cdef double wm = 2 * M_PI * mark_hz / rate, ws = 2 * M_PI * space_hz / rate
    cdef double mc = 0, ms = 0, sc = 0, ss = 0, v
    mark_arr = np.zeros(n, dtype=np.float64)
    space_arr = np.zeros(n, dtype=np.float64)
    cdef double[::1] mark = mark_arr
    cdef double[::1] space = space_arr
    # the last w mixer products of each kind: what leaves the window is what entered it w ago
    cdef double[:, ::1] ring = np.zeros((w, 4))
    cdef Py_ssize_t k
    with nogil:
        for i in range(n):
            v = x[i]
            k = i % w
            mc -= ring[k, 0]; ms -= ring[k, 1]; sc -= ring[k, 2]; ss -= ring[k, 3]
            ring[k, 0] = v * cos(wm * i)
            ring[k, 1] = v * sin(wm * i)
            ring[k, 2] = v * cos(ws * i)
            ring[k, 3] = v * sin(ws * i)
            mc += ring[k, 0]; ms += ring[k, 1]; sc += ring[k, 2]; ss += ring[k, 3]
            mark[i] = sqrt(mc * mc + ms * ms)
            space[i] = sqrt(sc * sc + ss * ss)
    return mark_arr, space_arr


cdef inline double _at(const double[::1] s, double t) nogil:
    """Linear interpolation of s at fractional index t (clamped)."""
    cdef Py_ssize_t n = s.shape[0]
    cdef Py_ssize_t k
    cdef double f
    if t <= 0:
        return s[0]
    if t >= n - 1:
        return s[n - 1]
    k = <Py_ssize_t>floor(t)
    f = t - k
    return s[k] * (1 - f) + s[k + 1] * f


def frame_blocks(const double[::1] soft, double samples_per_bit, double delay, int min_mark_bits=16,
                 int max_gap_bits=14):
    """Byte blocks framed out of a soft-bit stream: [(bytes, stop bits, first sample, end sample)];
    `stop bits` has one byte per byte, 1 where its stop bit was mark (framing held).

    `delay`: samples from a bit's centre to the soft sample that covers exactly that bit.
    A block starts at the first start bit after `min_mark_bits` of continuous mark and ends
    when no start bit follows a stop bit within `max_gap_bits`."""
    cdef Py_ssize_t n = soft.shape[0]
    cdef double spb = samples_per_bit
    cdef double t, edge, centre, v
    cdef Py_ssize_t i = 1
    cdef int k, byte, mark_run = 0, in_block = 0
    cdef double block_start = 0, last_stop = 0
    blocks = []
    current = bytearray()
    stops = bytearray()
    while i < n:
        if soft[i] > 0:
            mark_run += 1
            i += 1
            continue
        # a mark -> space transition at i (soft[i-1] > 0 >= soft[i]) or continuing space
        if in_block and i - last_stop > max_gap_bits * spb:
            blocks.append((bytes(current), bytes(stops), block_start, i))
            current = bytearray()
            stops = bytearray()
            in_block = 0
        if soft[i - 1] <= 0 or (not in_block and mark_run < min_mark_bits * spb):
            mark_run = 0
            i += 1
            continue
        # the crossing, to a fraction of a sample: the window is then half over the edge
        edge = (i - 1) + soft[i - 1] / (soft[i - 1] - soft[i])
        # the start bit must be space over its middle, or this was noise in the marks
        v = _at(soft, edge + 0.3 * spb) + _at(soft, edge + 0.5 * spb) + _at(soft, edge + 0.7 * spb)
        if v >= 0:
            mark_run = 0
            i += 1
            continue
        byte = 0
        for k in range(8):
            centre = edge + (k + 1.5) * spb
            if _at(soft, centre) > 0:
                byte |= 1 << k
        if not in_block:
            in_block = 1
            block_start = edge - delay
        current.append(byte)
        stops.append(1 if _at(soft, edge + 9.5 * spb) > 0 else 0)
        # resume at the middle of the stop bit: the next start bit's edge comes after it
        last_stop = edge + 9.5 * spb
        i = <Py_ssize_t>(last_stop) + 1
        mark_run = 0
    if in_block:
        blocks.append((bytes(current), bytes(stops), block_start, n))
    return blocks
