"""The continual-learning layer in cl/ installs as the subpackage pulpsim.cl."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setuptools_config():
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def test_cl_directory_maps_to_pulpsim_cl():
    cfg = _setuptools_config()
    assert "pulpsim.cl" in cfg["packages"] and "pulpsim" in cfg["packages"]
    assert cfg["package-dir"]["pulpsim.cl"] == "cl"
    assert (ROOT / cfg["package-dir"]["pulpsim.cl"] / "__init__.py").is_file()


def test_every_subpackage_is_listed():
    """A subpackage added under pulpsim/ or cl/ without being listed would be left out of the wheel."""
    cfg = _setuptools_config()
    listed = set(cfg["packages"])
    for name, directory in cfg["package-dir"].items():
        for init in (ROOT / directory).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / directory)
            dotted = ".".join((name, *rel.parts)) if rel.parts else name
            assert dotted in listed, f"{dotted} is not in [tool.setuptools] packages"
