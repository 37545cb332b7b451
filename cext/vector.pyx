# distutils: language = c++
"""Copy the PCM out of a pjsua2 MediaFrame buffer without element-by-element iteration.

pjsua2's `frame.buf` is a SWIG-wrapped std::vector<unsigned char>; `bytes(frame.buf)`
walks it element by element (~200 us per 20 ms frame, 50 frames/s per call). Given the
address of the vector (`int(frame.buf.this)`), this reads its storage directly (~1 us).
"""
from libcpp.vector cimport vector
from cpython.bytes cimport PyBytes_FromStringAndSize


def vector_bytes(size_t address):
    """Return the contents of the std::vector<unsigned char> at `address` as bytes."""
    if address == 0:
        raise ValueError("null vector address")
    cdef vector[unsigned char]* vec = <vector[unsigned char]*> address
    if vec.size() == 0:
        return b""
    return PyBytes_FromStringAndSize(<char*> vec.data(), vec.size())


def vector_assign(size_t address, const unsigned char[::1] data):
    """Make the std::vector<unsigned char> at `address` hold `data` (a frame to hand pjmedia)."""
    if address == 0:
        raise ValueError("null vector address")
    cdef vector[unsigned char]* vec = <vector[unsigned char]*> address
    cdef Py_ssize_t n = data.shape[0]
    if n == 0:
        vec.clear()
        return
    vec.assign(&data[0], &data[0] + n)
