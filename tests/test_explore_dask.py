"""pulpsim sweep on a dask.distributed cluster: a scheduler and two worker processes started here on the
loopback interface give the rows of a local sweep, and the CLI reaches them with --scheduler tcp://..."""

from __future__ import annotations

import io
import textwrap
from contextlib import redirect_stdout

import pytest

from pulpsim import cli, toolchain
from pulpsim.errors import ConfigError
from pulpsim.explore import read_table, sweep

distributed = pytest.importorskip("distributed")

PROGRAM = r"""
#include "pmsis.h"
PI_L1 float x[384];
static void body(void *arg) {
    int id = pi_core_id(), n = pi_cl_team_nb_cores();
    for (int i = id; i < 384; i += n) x[i] = x[i] * 3.0f - 1.0f;
    pi_cl_team_barrier();
}
int main(void) { pi_cl_team_fork(0, body, 0); return 0; }
"""


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    d = tmp_path_factory.mktemp("dask")
    src = d / "prog.c"
    src.write_text(PROGRAM)
    elf = toolchain.build([src], output=d / "prog.elf")
    path = d / "tiny.toml"
    path.write_text(textwrap.dedent(f"""
        name = "tiny-dask"
        [[workload]]
        kind = "elf"
        elf = "{elf}"
        [[workload]]
        kind = "kernel"
        kernel = "relu"
        shape = [4, 4, 4]
        [grid]
        cores = [1, 2]
        [[points]]
        "tcdm.banks" = 3
        """))
    return path


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and two single-threaded worker processes on 127.0.0.1, stopped after the module."""
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                 dashboard_address=":0")
    yield c
    c.close()


def test_dask_rows_equal_the_local_rows(spec, cluster, tmp_path):
    local = sweep(spec, out=tmp_path / "local", jobs=1, progress=False, plots=False)
    assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
    remote = sweep(spec, out=tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False, plots=False)
    assert remote.ran == len(local) == 6
    assert remote.comparable() == local.comparable()
    assert [r["status"] for r in remote.rows].count("failed") == 2
    with distributed.Client(cluster.scheduler_address) as client:
        assert len(client.scheduler_info()["workers"]) == 2


def test_cli_with_scheduler_writes_the_same_table(spec, cluster, tmp_path):
    out = io.StringIO()
    with redirect_stdout(out):
        status = cli.main(["sweep", str(spec), "--scheduler", cluster.scheduler_address, "--out",
                           str(tmp_path / "cli"), "--quiet", "--no-plots"])
    assert status == 0 and "6 points, 6 simulated" in out.getvalue()
    sweep(spec, out=tmp_path / "local", jobs=1, progress=False, plots=False)
    assert read_table(tmp_path / "cli").comparable() == read_table(tmp_path / "local").comparable()


def test_an_unreachable_scheduler_is_one_config_error(spec, tmp_path):
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        sweep(spec, out=tmp_path / "x", scheduler="tcp://127.0.0.1:9", progress=False, plots=False)


def test_scheduler_local_starts_and_stops_its_own_cluster(spec, tmp_path):
    local = sweep(spec, out=tmp_path / "local", jobs=1, progress=False, plots=False)
    mine = sweep(spec, out=tmp_path / "mine", jobs=2, scheduler="local", progress=False, plots=False)
    assert mine.comparable() == local.comparable()
