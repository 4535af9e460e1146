"""benchmarks/speed_guard.py's reading of the README's speed table (the guard itself is not run here: host time)."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_speed_guard", ROOT / "benchmarks" / "speed_guard.py")
sg = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = sg        # its dataclass looks its module up there
_spec.loader.exec_module(sg)


def test_the_readme_speed_table_is_read_whole():
    figures = sg.recorded_figures((ROOT / "README.md").read_text())
    names = [f.name for f in figures]
    # the figures the README promises: two single-core programs, 2 kernels x 3 platforms, warm and cold start-up
    assert sum(n.startswith("one core") for n in names) == 2
    for platform in ("vega", "pulp-open", "ideal"):
        for kernel in ("naive-mm", "tiled-pw"):
            assert sum(n.startswith(f"{platform}, 8 cores, {kernel}") for n in names) == 1
    assert len(figures) == 10
    for f in figures:
        assert f.command.startswith("python benchmarks/") and 0 < f.low <= f.high and f.unit in ("MIPS", "s")
        assert Path(ROOT, f.command.split()[1]).is_file()
    one = {f.name.split()[2]: f for f in figures if f.name.startswith("one core")}
    assert set(one) == {"int", "fp-mm"}


def test_every_readme_figure_has_a_measurement():
    outputs = {"mips.py": [{"program": "int", "mips": 70.0, "cpu_mips": 71.0},
                           {"program": "fp-mm", "mips": 60.0, "cpu_mips": 61.0}],
               "cluster_mips.py": {"aggregate_mips": 20.0, "cpu_aggregate_mips": 21.0},
               "startup.py": {"warm": {"wall": 0.5, "cpu": 0.4}, "cold": {"wall": 20.0, "cpu": 19.0}}}
    got = {}
    for f in sg.recorded_figures((ROOT / "README.md").read_text()):
        data = outputs[Path(f.command.split()[1]).name]
        got[f.name.split(" (")[0]] = (sg.extract(f, data), sg.extract(f, data, wall=True))
    assert got["one core, fp-mm"] == (61.0, 60.0) and got["vega, 8 cores, tiled-pw"] == (21.0, 20.0)
    assert got["warm pulpsim run of a small ELF"] == (0.4, 0.5)
    assert got["first run on a new checkout"] == (20.0, 20.0)  # (wall time: it compiles on two cores)


@pytest.mark.parametrize("cell, expected", [
    ("58–60 MIPS", (58.0, 60.0, "MIPS")), ("16 MIPS", (16.0, 16.0, "MIPS")), ("**21-24** MIPS", (21.0, 24.0, "MIPS")),
    ("0.8 s", (0.8, 0.8, "s")), ("12.5 s", (12.5, 12.5, "s")),
])
def test_recorded_values(cell, expected):
    assert sg.parse_value(cell) == expected


@pytest.mark.parametrize("cell", ["fast", "60 ms", "60–58 MIPS", "about 16 MIPS", ""])
def test_bad_recorded_values_are_rejected(cell):
    with pytest.raises(ValueError):
        sg.parse_value(cell)


def test_ratios_say_faster_above_one():
    mips = sg.Figure("x", "python benchmarks/mips.py", 50.0, 60.0, "MIPS")
    assert mips.ratio(100.0) == 2.0 and mips.ratio(45.0) == 0.9
    secs = sg.Figure("y", "python benchmarks/startup.py", 0.6, 0.8, "s")
    assert secs.ratio(0.4) == 2.0 and secs.ratio(1.6) == 0.5


def test_a_missing_or_malformed_table_is_an_error():
    with pytest.raises(ValueError, match="no speed table"):
        sg.recorded_figures("# README\n")
    with pytest.raises(ValueError, match="cells"):
        sg.recorded_figures(sg.TABLE_HEADER + "\n| --- | --- | --- |\n| a | b |\n")


def test_quick_commands_repeat_less():
    assert sg.quick_command("python benchmarks/mips.py --repeat 5") == "python benchmarks/mips.py --repeat 1"
    assert (sg.quick_command("python benchmarks/startup.py --no-cold --repeat 5")
            == "python benchmarks/startup.py --no-cold --repeat 3")
    assert sg.quick_command("python benchmarks/startup.py") == "python benchmarks/startup.py --repeat 3"
