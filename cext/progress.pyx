"""Call-progress tone analysis: per block, the complex DFT value at each asked frequency
(Goertzel, phase counted from the block's first sample) and the block's energy. The caller
decides: the fraction of the block's energy in the tones says "a pure tone", the phase step
between blocks gives each tone's frequency to a few hertz."""
from libc.math cimport cos, sin, M_PI

import numpy as np


def tone_blocks(const short[::1] x, const double[::1] freqs, int block, double rate):
    """(re, im: [blocks, freqs], energy: [blocks]) for the whole blocks of `x`."""
    cdef Py_ssize_t nb = x.shape[0] // block, nf = freqs.shape[0], b, j, i
    re_arr = np.zeros((nb, nf))
    im_arr = np.zeros((nb, nf))
    en_arr = np.zeros(nb)
    cdef double[:, ::1] re = re_arr
    cdef double[:, ::1] im = im_arr
    cdef double[::1] en = en_arr
    cdef double w, coeff, s0, s1, s2, v, e
    with nogil:
        for b in range(nb):
            e = 0
            for i in range(block):
                v = x[b * block + i]
                e += v * v
            en[b] = e
            for j in range(nf):
                w = 2 * M_PI * freqs[j] / rate
                coeff = 2 * cos(w)
                s1 = 0
                s2 = 0
                for i in range(block):
                    s0 = x[b * block + i] + coeff * s1 - s2
                    s2 = s1
                    s1 = s0
                # X = sum x[n] e^{-jwn}, n = 0..block-1
                re[b, j] = (s1 * cos(w * (block - 1)) - s2 * cos(w * block))
                im[b, j] = -(s1 * sin(w * (block - 1)) - s2 * sin(w * block))
    return re_arr, im_arr, en_arr
