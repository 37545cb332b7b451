"""Compiles cext/ (Cython) into edgepbx.dsp.*; everything else is in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension("edgepbx.dsp._dtmf", ["cext/dtmf.pyx"], include_dirs=["cext"], depends=["cext/dtmf_correlate.h"],
              extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._features", ["cext/features.pyx"], extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._voicekey", ["cext/voicekey.pyx"], extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._level", ["cext/level.pyx"], extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._stretch", ["cext/stretch.pyx"], extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._fsk", ["cext/fsk.pyx"], extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._progress", ["cext/progress.pyx"], extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._speechrate", ["cext/speechrate.pyx"], extra_compile_args=["-O3"]),
    Extension("edgepbx.dsp._pitch", ["cext/pitch.pyx"], extra_compile_args=["-O3"]),
    # C++: reads pjsua2's std::vector<unsigned char> frame buffers in place.
    Extension("edgepbx.dsp._vector", ["cext/vector.pyx"], language="c++", extra_compile_args=["-O2"]),
]

setup(ext_modules=cythonize(extensions, language_level=3, compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True}))
