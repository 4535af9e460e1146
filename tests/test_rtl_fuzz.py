"""The core timing model against cycle counts measured on the CV32E40P RTL.

``../shared/rtl-fuzz`` (next to the repository) holds 40 random RV32IMF programs of 16 blocks each, with
the mcycle delta and the issue cycle of every instruction of every block as measured on the RTL
(OpenHW CV32E40P with its FPU, 1-cycle memories), and ``check_expected.py``, which builds each program,
runs it with ``pulpsim run --platform single --trace`` and compares every block.  Every block must match
to the cycle.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FUZZ = REPO.parent / "shared" / "rtl-fuzz"


def _pulpsim_wrapper(directory: Path) -> Path:
    """An executable that runs this checkout's pulpsim with the current interpreter."""
    path = directory / "pulpsim"
    path.write_text(f'#!/bin/sh\nPYTHONPATH="{REPO}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" '
                    f'-m pulpsim "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.mark.slow
@pytest.mark.skipif(not (FUZZ / "check_expected.py").is_file(),
                    reason=f"the RTL-measured timing cases are not available ({FUZZ} is absent)")
def test_rtl_random_blocks_match_to_the_cycle(tmp_path):
    env = dict(os.environ, PY=sys.executable, PULPSIM=str(_pulpsim_wrapper(tmp_path)))
    r = subprocess.run([sys.executable, str(FUZZ / "check_expected.py")], capture_output=True, text=True,
                       env=env, timeout=3600)
    lines = r.stdout.strip().splitlines()
    assert lines, f"no output from check_expected.py:\n{r.stderr[-2000:]}"
    last = lines[-1]
    assert last.startswith("RTL random-block cycle match: "), f"{last}\n{r.stderr[-2000:]}"
    equal, total = last.split(": ")[1].split(" ")[0].split("/")
    assert int(total) > 0 and equal == total and r.returncode == 0, r.stdout[-4000:]
