"""Architecture exploration: sweeps of workloads over platform parameters (``pulpsim sweep``).

::

    from pulpsim import explore
    table = explore.sweep("examples/sweep-cores.toml", out="sweep-out/cores", jobs=2)
    for row in table.ok():
        print(row["cores"], row["cycles"], row["mac_per_cycle"])

A spec (TOML, :mod:`.spec`) names workloads and a grid or list of platform overrides; each point is
one simulation (:mod:`.workloads`), run locally or on Dask (:mod:`.runner`); the rows form a tidy table
(:mod:`.table`) with plots (:mod:`.plots`).  docs/explore.md describes the format and the columns.
"""

from .runner import sweep
from .spec import Point, Spec, load_spec, parse_spec
from .table import Table, read_table
from .workloads import run_point

__all__ = ["sweep", "Spec", "Point", "load_spec", "parse_spec", "Table", "read_table", "run_point"]
