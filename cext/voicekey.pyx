"""The voice-key network's forward pass: 1-D convolutions, ReLU, max-pool by 2, dense layers,
softmax. Activations are (channels x time), row-major; weights come from the trained model
file in the layout torch saves (conv: out x in x k, 'same' padding; dense: out x in). The pass
runs without the GIL, so every line's decoder can run on its own thread.
"""
from libc.math cimport exp
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

import numpy as np

cdef enum Kind:
    CONV = 0
    DENSE = 1
    RELU = 2
    POOL2 = 3

cdef struct Layer:
    int kind
    int n_in
    int n_out
    int k
    const float* w
    const float* b


cdef class Network:
    cdef Layer* layers
    cdef int n_layers
    cdef readonly int channels
    cdef readonly int frames
    cdef readonly int outputs
    cdef int buf_size
    cdef float* a
    cdef float* b
    cdef list _keep       # the weight arrays the Layer pointers point into

    def __cinit__(self, list plan, dict weights, int channels, int frames):
        self.layers = <Layer*>malloc(sizeof(Layer) * max(1, len(plan)))
        self.n_layers = 0
        self._keep = []
        self.channels, self.frames = channels, frames
        cdef int c = channels, t = frames, biggest = channels * frames
        cdef const float[:, :, ::1] w3
        cdef const float[:, ::1] w2
        cdef const float[::1] bias
        for step in plan:
            kind, _, name = step.partition(":")
            layer = &self.layers[self.n_layers]
            if kind == "conv":
                w = np.ascontiguousarray(weights["w" + name], dtype=np.float32)
                bb = np.ascontiguousarray(weights["b" + name], dtype=np.float32)
                if w.ndim != 3 or w.shape[1] != c or w.shape[2] % 2 == 0:
                    raise ValueError(f"conv {name}: weights {w.shape} do not follow {c} channels")
                w3, bias = w, bb
                layer.kind, layer.n_in, layer.n_out, layer.k = CONV, c, w.shape[0], w.shape[2]
                layer.w, layer.b = &w3[0, 0, 0], &bias[0]
                c = w.shape[0]
                self._keep += [w, bb]
            elif kind == "dense":
                w = np.ascontiguousarray(weights["w" + name], dtype=np.float32)
                bb = np.ascontiguousarray(weights["b" + name], dtype=np.float32)
                if w.ndim != 2 or w.shape[1] != c * t:
                    raise ValueError(f"dense {name}: weights {w.shape} do not take {c} x {t} inputs")
                w2, bias = w, bb
                layer.kind, layer.n_in, layer.n_out, layer.k = DENSE, c * t, w.shape[0], 1
                layer.w, layer.b = &w2[0, 0], &bias[0]
                c, t = w.shape[0], 1
                self._keep += [w, bb]
            elif kind == "relu":
                layer.kind, layer.n_in, layer.n_out = RELU, c * t, c * t
            elif kind == "pool2":
                layer.kind, layer.n_in, layer.n_out, layer.k = POOL2, c, c, t
                t //= 2
            else:
                raise ValueError(f"unknown layer {step!r}")
            self.n_layers += 1
            biggest = max(biggest, c * t)
        self.outputs = c * t
        self.buf_size = biggest
        self.a = <float*>malloc(sizeof(float) * biggest)
        self.b = <float*>malloc(sizeof(float) * biggest)

    def __dealloc__(self):
        free(self.layers)
        free(self.a)
        free(self.b)

    def forward(self, const float[:, ::1] x):
        """(channels x frames) input -> softmax over the outputs (float32 array)."""
        return self._pass(x, self.n_layers, self.outputs, True)

    def embed(self, const float[:, ::1] x):
        """The activations that feed the last layer: a word's fingerprint, for comparing words."""
        cdef Layer* last = &self.layers[self.n_layers - 1]
        if last.kind != DENSE:
            raise ValueError("the network does not end in a dense layer")
        return self._pass(x, self.n_layers - 1, last.n_in, False)

    cdef object _pass(self, const float[:, ::1] x, int upto, int size, bint softmax):
        if x.shape[0] != self.channels or x.shape[1] != self.frames:
            raise ValueError(f"input must be {self.channels} x {self.frames}, got {x.shape[0]} x {x.shape[1]}")
        out = np.empty(size, dtype=np.float32)
        cdef float[::1] o = out
        with nogil:
            memcpy(self.a, &x[0, 0], sizeof(float) * self.channels * self.frames)
            self._run(&o[0], upto, size, softmax)
        return out

    cdef void _run(self, float* result, int upto, int size, bint softmax) noexcept nogil:
        cdef int li, o, i, j, s, tt, t = self.frames, pad
        cdef float acc, m
        cdef double total
        cdef float* src = self.a
        cdef float* dst = self.b
        cdef float* tmp
        cdef const float* wr
        cdef Layer* L
        for li in range(upto):
            L = &self.layers[li]
            if L.kind == CONV:
                pad = L.k // 2
                for o in range(L.n_out):
                    for tt in range(t):
                        dst[o * t + tt] = L.b[o]
                    for i in range(L.n_in):
                        wr = L.w + (o * L.n_in + i) * L.k
                        for j in range(L.k):
                            s = j - pad
                            for tt in range(max(0, -s), min(t, t - s)):
                                dst[o * t + tt] += wr[j] * src[i * t + tt + s]
            elif L.kind == DENSE:
                for o in range(L.n_out):
                    acc = L.b[o]
                    wr = L.w + o * L.n_in
                    for i in range(L.n_in):
                        acc += wr[i] * src[i]
                    dst[o] = acc
                t = 1
            elif L.kind == RELU:
                for i in range(L.n_in):
                    dst[i] = src[i] if src[i] > 0 else 0
            else:   # POOL2 over time, per channel
                for o in range(L.n_in):
                    for tt in range(t // 2):
                        m = src[o * t + 2 * tt]
                        if src[o * t + 2 * tt + 1] > m:
                            m = src[o * t + 2 * tt + 1]
                        dst[o * (t // 2) + tt] = m
                t //= 2
            tmp = src
            src = dst
            dst = tmp
        if not softmax:
            memcpy(result, src, sizeof(float) * size)
            return
        m = src[0]
        for o in range(self.outputs):
            if src[o] > m:
                m = src[o]
        total = 0
        for o in range(self.outputs):
            result[o] = <float>exp(src[o] - m)
            total += result[o]
        for o in range(self.outputs):
            result[o] = <float>(result[o] / total)


def dtw_distance(const float[:, ::1] a, const float[:, ::1] b):
    """Dynamic time warping distance of two feature sequences (frames x dims), Euclidean
    frame cost, steps (1,0), (0,1), (1,1), normalised by len(a) + len(b). For matching a word
    with operators' recordings of a key."""
    cdef Py_ssize_t n = a.shape[0], m = b.shape[0], d = a.shape[1], i, j, k
    if b.shape[1] != d:
        raise ValueError(f"feature sizes differ: {d} and {b.shape[1]}")
    if n == 0 or m == 0:
        return float("inf")
    cdef double* prev = <double*>malloc(sizeof(double) * (m + 1))
    cdef double* cur = <double*>malloc(sizeof(double) * (m + 1))
    cdef double* tmp
    cdef double cost, diff, best, inf = float("inf")
    with nogil:
        prev[0] = 0
        for j in range(1, m + 1):
            prev[j] = inf
        for i in range(1, n + 1):
            cur[0] = inf
            for j in range(1, m + 1):
                cost = 0
                for k in range(d):
                    diff = a[i - 1, k] - b[j - 1, k]
                    cost += diff * diff
                cost = cost ** 0.5
                best = prev[j - 1]
                if prev[j] < best:
                    best = prev[j]
                if cur[j - 1] < best:
                    best = cur[j - 1]
                cur[j] = cost + best
            tmp = prev
            prev = cur
            cur = tmp
        best = prev[m] / (n + m)
    free(prev)
    free(cur)
    return best
