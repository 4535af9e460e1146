"""Run a sweep's points: in this process, in a local process pool, or on a Dask cluster.

Every finished row is appended at once to ``results.jsonl`` in the output folder (the journal), so an
interrupted sweep loses only the points in flight; a later sweep of the same spec skips every point whose
id is in the journal (``retry_failed`` re-runs the failed ones).  At the end the rows of the spec's
points are written as ``results.csv`` (and ``results.parquet`` when pyarrow is installed), in spec order.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from ..errors import ConfigError
from .spec import Point, Spec, load_spec, parse_spec
from .table import Table, read_journal
from .workloads import run_point

__all__ = ["sweep", "resolve_spec", "run_points"]

JOURNAL = "results.jsonl"
CSV = "results.csv"
PARQUET = "results.parquet"


def resolve_spec(spec: "Spec | Mapping | str | Path") -> Spec:
    """A :class:`Spec` from a spec, a dict (the parsed TOML) or a TOML file's path."""
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        return parse_spec(spec)
    if isinstance(spec, (str, Path)):
        return load_spec(spec)
    raise ConfigError(f"sweep: expected a spec, a dict or a TOML file, got {type(spec).__name__}")


def default_out(spec: Spec) -> Path:
    return Path("sweep-out") / spec.name


def sweep(spec: "Spec | Mapping | str | Path", out: "str | Path | None" = None, jobs: int | None = None,
          scheduler: str | None = None, *, retry_failed: bool = False, progress: bool = True,
          plots: bool = True) -> Table:
    """Run every point of ``spec`` not yet in ``out`` and return the whole table.

    ``jobs``: local worker processes (default: the machine's CPU count; 1 runs in this process).
    ``scheduler``: ``"tcp://HOST:PORT"`` of a running Dask scheduler, or ``"local"`` for a Dask
    ``LocalCluster`` of ``jobs`` workers.  ``out`` (default ``sweep-out/<spec name>``) receives the journal,
    the CSV (and Parquet) table and, with ``plots``, the standard plots in ``out/plots``.  The ``command``
    column of a point that only ``pulpsim sweep SPEC --point ID`` can re-run names the spec's file
    (``SPEC.toml`` for a spec given as a dict).
    """
    spec_path = str(spec) if isinstance(spec, (str, Path)) else None
    spec = resolve_spec(spec)
    if spec_path is None and spec.path is not None:
        spec_path = str(spec.path)
    jobs = _jobs(jobs)
    _check_scheduler(scheduler)
    out = Path(out) if out is not None else default_out(spec)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"sweep: cannot create the output folder {out}: {e.strerror}") from None
    journal = out / JOURNAL
    done = read_journal(journal)
    if retry_failed:
        done = {k: r for k, r in done.items() if r.get("status") == "ok"}
    todo = [p for p in spec.points if p.id not in done]
    with open(journal, "a") as log:
        for row in _progress(run_points(todo, spec_path, jobs, scheduler), len(todo), spec.name, progress):
            done[row["id"]] = row
            log.write(json.dumps(row, sort_keys=True) + "\n")
            log.flush()
    table = Table([done[p.id] for p in spec.points], ["platform", *spec.param_keys], ran=len(todo),
                  skipped=len(spec.points) - len(todo))
    table.write_csv(out / CSV)
    table.write_parquet(out / PARQUET)
    if plots and table.ok():
        from . import plots as plotting
        plotting.standard_plots(table, out / "plots", extra=spec.plots)
    return table


def _jobs(jobs) -> int:
    if jobs is None:
        return os.cpu_count() or 1
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"sweep: --jobs must be a positive integer, got {jobs!r}")
    return jobs


def _progress(rows: Iterable[dict], total: int, name: str, show: bool) -> Iterator[dict]:
    if not show or total == 0:
        yield from rows
        return
    from tqdm import tqdm
    with tqdm(total=total, desc=f"sweep {name}", unit="point") as bar:
        for row in rows:
            bar.update(1)
            if row.get("status") != "ok":
                bar.write(f"point {row['id']} ({row['workload']}) failed: {row.get('error')}")
            yield row


def run_points(points: list[Point], spec_path: str | None, jobs: int, scheduler: str | None) -> Iterator[dict]:
    """The rows of ``points`` as they finish (any order)."""
    if not points:
        return iter(())
    if scheduler is not None:
        return _run_dask(points, spec_path, *_dask_client(scheduler, jobs))
    if jobs == 1 or len(points) == 1:
        return (run_point(p, spec_path) for p in points)
    return _run_pool(points, spec_path, min(jobs, len(points)))


def _run_pool(points, spec_path, jobs) -> Iterator[dict]:
    # spawn, not fork: a fresh interpreter per worker (no inherited threads); each loads the engine from
    # Numba's on-disk cache once and then runs many points
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"))
    try:
        futures = {pool.submit(run_point, p, spec_path): p for p in points}
        for fut in as_completed(futures):
            yield _row_of(fut, futures[fut], spec_path)
    finally:    # on Ctrl-C the points not started are dropped (the running ones finish their point)
        pool.shutdown(wait=False, cancel_futures=True)


def _row_of(fut, point: Point, spec_path) -> dict:
    """The future's row, or a failed row when the worker itself died (killed, out of memory)."""
    try:
        return fut.result()
    except Exception as e:      # the worker, not the point, failed
        from .workloads import command_for
        return {"id": point.id, "workload": point.name, "kind": point.workload["kind"], **point.params,
                "status": "failed", "error": f"worker lost: {type(e).__name__}: {e}".strip(),
                "command": command_for(point, spec_path), "wall_s": 0.0}


def _check_scheduler(scheduler: str | None) -> None:
    if scheduler is not None and scheduler != "local" and not (
            isinstance(scheduler, str) and scheduler.startswith(("tcp://", "tls://", "inproc://", "ucx://"))):
        raise ConfigError(f"sweep: --scheduler expects tcp://HOST:PORT or local, got {scheduler!r}")


def _dask_client(scheduler: str, jobs: int):
    """(client, the LocalCluster it runs on or None): connected before any point is submitted, so a wrong
    address is one error, not a failed row per point."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("sweep: --scheduler needs dask.distributed (pip install 'dask[distributed]')") from None
    cluster = None
    try:
        if scheduler == "local":
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, host="127.0.0.1",
                                   dashboard_address=":0")    # loopback only; any free port
            return Client(cluster), cluster
        return Client(scheduler, timeout="15s"), None
    except (OSError, TimeoutError) as e:
        if cluster is not None:
            cluster.close()
        raise ConfigError(f"sweep: cannot reach the Dask scheduler at {scheduler}: {e}") from None


def _run_dask(points, spec_path, client, cluster) -> Iterator[dict]:
    from distributed import as_completed as dask_completed
    try:
        futures = {client.submit(run_point, p, spec_path, pure=False): p for p in points}
        for fut in dask_completed(list(futures)):
            yield _row_of(fut, futures[fut], spec_path)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
