"""benchmarks/host_instructions.py's reading of a callgrind profile (the count itself needs Valgrind and is not
run here)."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))  # it imports profile_lines beside it
_spec = importlib.util.spec_from_file_location("bench_host_instructions", ROOT / "benchmarks" / "host_instructions.py")
hi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hi)

# A profile as callgrind writes it with --dump-instr=yes --compress-pos=no --compress-strings=no: cost lines are
# "address line count"; the line after calls= is the inclusive cost of that call, not the caller's own.
PROFILE = """\
version: 1
creator: callgrind-3.19.0
positions: instr line
events: Ir
ob=???
fn=0x0000000000001000
0x1000 12 5
0x1004 12 3
calls=2 0x2000 0
0x1008 13 100
0x1008 13 1
0x1000 12 2
fn=0x0000000000002000
0x2000 0 50
0xfff 11 7
"""


def test_the_counts_are_the_callers_own_per_address_in_range(tmp_path):
    path = tmp_path / "callgrind.out"
    path.write_text(PROFILE)
    counts = hi._counts(path, 0x1000, 0x2000)
    # 0x1000 twice (5 + 2); the call's inclusive 100 at 0x1008 is not counted, its own 1 is; 0x2000 and 0xfff
    # lie outside [0x1000, 0x2000)
    assert dict(counts) == {0x1000: 7, 0x1004: 3, 0x1008: 1}


# With --branch-sim=yes the header names five events; a cost line leaves out its trailing zero counts.
BRANCH_PROFILE = """\
version: 1
positions: instr line
events: Ir Bc Bcm Bi Bim
fn=0x0000000000001000
0x1000 12 4 2 1
0x1004 12 3
0x1008 13 6 0 0 2 1
calls=1 0x2000 0
0x100c 13 90 9 9
0x100c 13 2 1 1
"""


def test_the_mispredicted_branches_are_read_from_their_event_column(tmp_path):
    path = tmp_path / "callgrind.out"
    path.write_text(BRANCH_PROFILE)
    assert dict(hi._counts(path, 0x1000, 0x2000)) == {0x1000: 4, 0x1004: 3, 0x1008: 6, 0x100C: 2}
    # Bcm (mispredicted conditional branches): absent from a line means 0; the call's inclusive line is skipped
    assert dict(hi._counts(path, 0x1000, 0x2000, "Bcm")) == {0x1000: 1, 0x100C: 1}
    assert dict(hi._counts(path, 0x1000, 0x2000, "Bim")) == {0x1008: 1}


def test_the_frequency_classes_group_instructions_that_run_equally_often():
    # 10 guest instructions; offsets 0-2 run once each (1.00 per guest instruction), 4 and 8 run 9 times
    # (0.90: say, once per entry), 12 twice (0.20); 16 never; 20 runs once in the whole run (0.10, under floor
    # 0.15)
    executed = [(0, 10), (1, 10), (2, 10), (4, 9), (8, 9), (12, 2), (16, 0), (20, 1)]
    lines = {0: ("core.py", 5), 1: ("core.py", 5), 2: ("core.py", 6), 4: ("engine.py", 9), 8: ("core.py", 7),
             12: ("arbiter.py", 1), 16: ("core.py", 8), 20: ("core.py", 9)}
    rows = hi.frequency_classes(executed, 10, lines.__getitem__, floor=0.15)
    assert rows == [
        {"per_guest": 1.0, "instructions": 3, "host_per_guest": 3.0, "lines": ["core.py:5", "core.py:6"]},
        {"per_guest": 0.9, "instructions": 2, "host_per_guest": 1.8, "lines": ["engine.py:9", "core.py:7"]},
        {"per_guest": 0.2, "instructions": 1, "host_per_guest": 0.2, "lines": ["arbiter.py:1"]},
    ]
