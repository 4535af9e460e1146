"""Keep Numba's on-disk cache consistent across pulpsim's modules.

Numba invalidates a cached function only when *its own* source file changes.
The engine inlines the FP library and the ISA's operation ids, so an edit to
``fpu.py`` or ``isa.py`` would otherwise leave a stale compiled engine behind.
Before the first compilation we hash every module of the package and drop all
cached pulpsim functions when the hash differs from the stored one.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numba

_PACKAGE_DIR = Path(__file__).resolve().parent
_STAMP_NAME = "pulpsim-jit.stamp"


def _cache_dirs() -> list[Path]:
    dirs = [_PACKAGE_DIR / "__pycache__"]
    if numba.config.CACHE_DIR:
        dirs.append(Path(numba.config.CACHE_DIR))
    return dirs


def fingerprinted_modules() -> list[Path]:
    """Every module of the simulator's package: any of them may hold code the engine compiles or inlines (a list
    kept by hand once missed the core loop's module)."""
    return sorted(_PACKAGE_DIR.glob("*.py"))


def source_fingerprint() -> str:
    h = hashlib.sha256()
    for path in fingerprinted_modules():
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def ensure_fresh() -> None:
    """Remove cached compiled pulpsim functions if any JIT module changed."""
    fingerprint = source_fingerprint()
    for cache_dir in _cache_dirs():
        stamp = cache_dir / _STAMP_NAME
        try:
            if stamp.read_text() == fingerprint:
                continue
        except OSError:
            pass
        if cache_dir.is_dir():
            for pattern in ("*.nbi", "*.nbc"):
                for f in cache_dir.rglob(pattern):
                    try:
                        f.unlink()
                    except OSError:
                        pass
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            stamp.write_text(fingerprint)
        except OSError:
            pass  # read-only install: Numba then compiles in memory
