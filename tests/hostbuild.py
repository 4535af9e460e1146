"""Native (host) builds of the kernel sources with cffi: the golden references of the kernel tests."""

from __future__ import annotations

import importlib.util

import pytest

from pulpsim.workloads import kernel_runner as kr


def build_host_module(name: str, source: str, cdef: str, sources, include_dirs, tmpdir):
    """Compile ``sources`` plus ``source`` natively (``-DMM_HOST``, the one-core PMSIS shim of
    kernels/matmul/host, ``-ffp-contract=off``) and import the module; skips the test without cffi."""
    cffi = pytest.importorskip("cffi")
    ffi = cffi.FFI()
    ffi.cdef(cdef)
    md = kr.kernel_dir()
    ffi.set_source(name, source, sources=[str(p) for p in sources],
                   include_dirs=[str(md / "host"), *(str(d) for d in include_dirs), str(md)],
                   define_macros=[("MM_HOST", "1")],
                   extra_compile_args=["-O2", "-ffp-contract=off", "-std=c99"], libraries=["m"])
    so = ffi.compile(tmpdir=str(tmpdir), verbose=False)
    spec = importlib.util.spec_from_file_location(name, so)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
