"""Signal processing: thin, input-checking Python faces of the Cython kernels in cext/."""
