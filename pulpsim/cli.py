"""Command-line interface: ``pulpsim run | disasm | build | plot-banks | kernel | tiling | platforms | sweep | cl``.

Exit status of ``pulpsim run``: the program's exit code modulo 256, but never 0 for a nonzero code
(see :func:`exit_status`).  User
errors print one line ``pulpsim: error: ...`` (no traceback) and exit with the
error class's status (see docs/cli.md): 250 generic, 251 bad option or
platform parameter, 252 bad ELF, 253 toolchain failure, 254 guest fault (illegal
instruction, memory fault, runaway program, unhandled trap).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import sys
from pathlib import Path

from .blas import pin_blas_threads
from .errors import ConfigError, PulpsimError

STATUS_USAGE = 251
#: Process status of a nonzero program exit code that is a multiple of 256 (the shell's "out of range").
STATUS_CODE_OUT_OF_RANGE = 255


def exit_status(code: int) -> int:
    """Process status for a program exit code: the code modulo 256, except that a nonzero code never
    gives 0 (a multiple of 256, e.g. riscv-tests' "test 256 failed", gives 255)."""
    if code != 0 and code % 256 == 0:
        return STATUS_CODE_OUT_OF_RANGE
    return code % 256


class _ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors with pulpsim's one-line format and status."""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{self.prog}: {message}")


def _parse_sets(items: list[str]) -> dict[str, str]:
    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def _cmd_run(args: argparse.Namespace) -> int:
    from .api import run
    overrides = _parse_sets(args.set)
    if args.cores is not None:
        overrides["cores"] = args.cores
    result = run(args.elf if len(args.elf) > 1 else args.elf[0], platform=args.platform,
                 max_cycles=args.max_cycles, trace=args.trace, stdout=sys.stdout, overrides=overrides,
                 timeline=args.timeline)
    if args.stats == "json":
        print(result.to_json())
    elif args.stats == "table":
        print(result.table())
    return exit_status(result.exit_code)


def _cmd_plot_banks(args: argparse.Namespace) -> int:
    from .api import run
    from .sim.plots import plot_banks
    overrides = _parse_sets(args.set)
    if args.cores is not None:
        overrides["cores"] = args.cores
    result = run(args.elf if len(args.elf) > 1 else args.elf[0], platform=args.platform,
                 max_cycles=args.max_cycles, overrides=overrides)
    plot_banks(result, args.output)
    total = sum(b["conflicts"] for b in result.banks)
    print(f"{args.output}: {len(result.banks)} banks, {sum(b['accesses'] for b in result.banks)} accesses, "
          f"{total} conflicts")
    return 0


def _cmd_disasm(args: argparse.Namespace) -> int:
    from .sim.disasm import disassemble_words
    from .sim.elf import load_elf
    import numpy as np
    image = load_elf(args.elf)
    for seg in image.segments:
        if not seg.executable:
            continue
        words = np.frombuffer(seg.data[:len(seg.data) - len(seg.data) % 4], "<u4")
        print(f"\nsegment 0x{seg.vaddr:08x} ({len(seg.data)} bytes):")
        by_addr = {}
        for name, addr in image.symbols.items():
            by_addr.setdefault(addr, name)
        for i, line in enumerate(disassemble_words(words, seg.vaddr, image.symbolize)):
            addr = seg.vaddr + 4 * i
            if addr in by_addr:
                print(f"\n{addr:08x} <{by_addr[addr]}>:")
            print(line)
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    import warnings
    from . import toolchain
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", toolchain.IgnoredFlagsWarning)
        out = toolchain.build(args.sources, output=args.output, opt=args.opt, cflags=tuple(args.cflag or ()),
                              include_dirs=args.include or (), defines=args.define or None,
                              compiler=args.compiler, runtime=not args.no_runtime, platform=args.platform,
                              stack_size=args.stack_size)
    for w in caught:
        print(f"pulpsim: warning: {w.message}", file=sys.stderr)
    print(out)
    return 0


# Options of `pulpsim build` that take a value; every other argument that
# starts with a single '-' is a compiler flag (as --cflag FLAG).
_BUILD_VALUE_OPTIONS = {"-o", "--output", "-I", "-D", "--cflag", "--platform", "--stack-size", "--compiler"}
# Compiler flags whose value is the next argument.
_COMPILER_FLAGS_WITH_VALUE = {"-include", "-imacros", "-isystem", "-iquote", "-idirafter", "-Xclang", "-Xlinker", "-x", "-L",
                              "-Xassembler", "-MF", "-MT", "-MQ"}


def _build_argv(args: list[str]) -> list[str]:
    """Rewrite `pulpsim build` arguments for argparse, so that a compiler
    command line works as it is: ``-O3``/``-O -O3``/``-O 3`` become ``-O3``,
    ``--cflag FLAG`` keeps a FLAG that starts with '-', and any other
    single-dash flag (``-g3``, ``-Wall``, ``-mhwloopalign``, ``-lm``,
    ``-include F``) becomes ``--cflag=FLAG``."""
    out: list[str] = []
    it = iter(args)
    for a in it:
        if a == "-O":
            level = next(it, "")
            out.append("-O" + (level[2:] if level.startswith("-O") else level))
        elif a == "--cflag":
            out.append(f"--cflag={next(it, '')}")
        elif a in _BUILD_VALUE_OPTIONS:
            out.append(a)
            nxt = next(it, None)
            if nxt is not None:
                out.append(nxt)
        elif a.startswith("--") or not a.startswith("-") or a in ("-", "-h") or a[:2] in ("-O", "-I", "-D", "-o"):
            out.append(a)
        else:
            out.append(f"--cflag={a}")
            if a in _COMPILER_FLAGS_WITH_VALUE:
                out.append(f"--cflag={next(it, '')}")
    return out


def _opt_level(level: str) -> str:
    if level not in ("0", "1", "2", "3", "s", "z", "g", "fast"):
        raise argparse.ArgumentTypeError(f"unknown optimisation level -O{level} (use -O0, -O1, -O2, -O3, -Os, -Oz or -Og)")
    return f"-O{level}"


def _stack_size(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r}") from None


def _cmd_platforms(args: argparse.Namespace) -> int:
    from .sim.platform import PRESETS
    for name, plat in PRESETS.items():
        if args.json:
            print(json.dumps({name: plat.to_dict()}))
        else:
            fpu = f"{plat.fpu.shared} shared" if plat.fpu.shared else "private"
            print(f"{name:10} cores={plat.cores} tcdm={plat.tcdm.size // 1024}KiB@0x{plat.tcdm.base:08x} "
                  f"({plat.tcdm.banks} banks, {plat.tcdm.arbitration}) "
                  f"l2={plat.l2.size // 1024}KiB@0x{plat.l2.base:08x} (latency {plat.l2.latency}) "
                  f"fpu={fpu} divider={plat.fpu.divider} "
                  f"reset: mstatus.FS={FS_NAMES[plat.core.reset_fs]} "
                  f"mcountinhibit=0x{plat.core.reset_mcountinhibit:08x}")
    return 0


FS_NAMES = ("off", "initial", "clean", "dirty")

KERNELS = ("matmul",)


def _cmd_kernel(args: argparse.Namespace) -> int:
    import numpy as np
    from .workloads import kernel_runner as kr
    from .errors import PulpsimError
    from .sim.platform import get_platform
    plat = get_platform(args.platform, _parse_sets(args.set))
    if args.name != "matmul":
        from .workloads import kernel_cli
        print(kernel_cli.run(args.name, args.step, args.shape, platform=plat, cores=args.cores,
                             stride=args.stride, seed=args.seed, window=args.window))
        return 0
    if len(args.shape) != 3:
        raise ConfigError(f"matmul: --shape takes 3 values (M N K), got {len(args.shape)}")
    M, N, K = args.shape
    for name, v in (("M", M), ("N", N), ("K", K)):
        if v < 1:
            raise ConfigError(f"matmul: {name} must be >= 1, got {v}")
    if args.variant not in kr.VARIANTS:
        raise ConfigError(f"matmul: unknown variant {args.variant!r}; expected one of {', '.join(kr.VARIANTS)}")
    nbytes = 4 * (M * K + K * N + M * N)
    if nbytes > plat.tcdm.size:  # checked before allocating the inputs (the runner checks the exact room)
        raise ConfigError(f"matmul: A, B and C need {nbytes} bytes of TCDM but platform {plat.name!r} has "
                          f"{plat.tcdm.size} bytes")
    rng = np.random.default_rng(args.seed)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((K, N)).astype(np.float32)
    r = kr.run_matmul(A, B, variant=args.variant, platform=plat, cores=args.cores)
    A64, B64 = A.astype(np.float64), B.astype(np.float64)
    exact = A64 @ B64
    bound = K * np.finfo(np.float32).eps * (np.abs(A64) @ np.abs(B64))
    err = np.abs(r.C.astype(np.float64) - exact)
    bad = int(np.count_nonzero(~(err <= bound)))
    print(f"kernel matmul {M}x{N}x{K} variant {r.variant} platform {r.platform} cores {r.cores} seed {args.seed}")
    print(f"cycles        {r.cycles}")
    print(f"MAC/cycle     {r.mac_per_cycle:.3f}")
    print(f"instructions  {r.instructions} (core 0)")
    print(f"bank conflicts {r.bank_conflicts}")
    print("stalls per core (whole run):")
    for c, st in enumerate(r.stalls):
        causes = ", ".join(f"{k} {v}" for k, v in sorted(st.items()) if v) or "none"
        print(f"  core {c}: {causes}")
    if bad:
        sys.stdout.flush()
        raise PulpsimError(f"matmul: {bad} of {M * N} elements differ from numpy beyond K*eps32*(|A|@|B|) "
                           f"(max error {float(err.max()):.3g})")
    print(f"check         ok (max error {float(err.max()):.3g}, bound K*eps32*(|A|@|B|))")
    return 0


def _cmd_tiling(args: argparse.Namespace) -> int:
    from .workloads import tiled, tiling
    from .workloads.kernel_cli import checked_dims
    step = args.step or tiled.TILED_LAYERS[args.layer][0]
    dims = checked_dims(args.layer, args.shape)
    from .sim.platform import get_platform
    plat = get_platform(args.platform, _parse_sets(args.set))
    table = tiling.sweep(args.layer, step, dims, args.l1, platform=plat, cores=args.cores,
                         stride=args.stride, window=args.window, count=args.count, seed=args.seed)
    print(table.format())
    if args.plot:
        tiling.plot_sweep(table, args.plot)
        print(f"plot written to {args.plot}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .explore import runner, spec as spec_mod, workloads
    if args.point:
        point = spec_mod.load_spec(args.spec).point(args.point)
        row = {"id": point.id, "workload": point.name, **point.params, **workloads.measure(point)}
        for k, v in row.items():
            print(f"{k:20} {v}")
        return 0
    out = Path(args.out) if args.out else None
    table = runner.sweep(args.spec, out=out, jobs=args.jobs, scheduler=args.scheduler,
                         retry_failed=args.retry_failed, progress=not args.quiet, plots=not args.no_plots)
    out = out or runner.default_out(spec_mod.load_spec(args.spec))
    failed = table.failed()
    print(f"sweep {args.spec}: {len(table)} points, {table.ran} simulated, {table.skipped} already in {out}, "
          f"{len(failed)} failed")
    for r in failed:
        print(f"  failed {r['id']} {r['workload']}: {r.get('error')}")
    print(f"table: {out / runner.CSV}" + ("" if args.no_plots else f"; plots: {out / 'plots'}"))
    return 0


def _cmd_sweep_plot(args: argparse.Namespace) -> int:
    from .explore import plots, table as table_mod
    table = table_mod.read_table(args.results)
    base = Path(args.results)
    folder = base if base.is_dir() else base.parent
    if args.x or args.y:
        if not (args.x and args.y):
            raise ConfigError("sweep plot: --x and --y go together")
        target = Path(args.output) if args.output else folder / "plots" / f"{args.y}_vs_{args.x}".replace(".", "_")
        written = plots.plot_xy(table, args.x, args.y, args.hue, target)
    else:
        written = plots.standard_plots(table, Path(args.output) if args.output else folder / "plots")
    for p in written:
        print(p)
    return 0


#: The help line of ``pulpsim cl`` (as pulpsim.cl.cli.add_parser gives it), for the parser of the other commands.
CL_HELP = "continual learning with quantized latent replays (run, compare, cost)"


def build_parser(with_cl: bool = True) -> argparse.ArgumentParser:
    """The command-line parser.  Without ``with_cl``, ``cl`` is listed but has no options of its own: building
    them imports the continual-learning layer (a tenth of a second), which the other commands do not need."""
    parser = _ArgumentParser(prog="pulpsim", description="Cycle-accurate simulator of RV32IMF PULP clusters.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_ArgumentParser)

    p = sub.add_parser("run", help="simulate an ELF program")
    p.add_argument("elf", nargs="+", help="ELF file (several: one per core)")
    p.add_argument("--platform", default="single", help="preset name or TOML file (default: single)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a platform parameter")
    p.add_argument("--cores", type=int, help="number of cores (same as --set cores=N)")
    p.add_argument("--max-cycles", type=int, default=None, help="stop a runaway program after N cycles")
    p.add_argument("--trace", metavar="FILE", help="write one line per executed instruction")
    p.add_argument("--timeline", metavar="FILE",
                   help="write per-core states and DMA transfers as Chrome trace JSON (Perfetto)")
    p.add_argument("--stats", choices=("table", "json", "none"), default="table",
                   help="statistics after the run (default: table)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("disasm", help="disassemble an ELF's code")
    p.add_argument("elf")
    p.set_defaults(func=_cmd_disasm)

    p = sub.add_parser("build", help="compile C/assembly into an RV32IMF ELF with the pulpsim runtime",
                       description="Compile and link; other flags starting with '-' go to the compiler "
                                   "(PULP GCC's own, such as -mhwloopalign, are dropped with a warning).")
    p.add_argument("sources", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-O", dest="opt", default="2", type=_opt_level, metavar="LEVEL",
                   help="optimisation level: -O0, -O1, -O2 (default), -O3, -Os, -Oz, -Og")
    p.add_argument("-I", dest="include", action="append", metavar="DIR", help="include directory")
    p.add_argument("-D", dest="define", action="append", metavar="NAME[=VALUE]", help="preprocessor definition")
    p.add_argument("--cflag", action="append", help="extra compiler flag")
    p.add_argument("--platform", default=None,
                   help="link for this platform's memories (preset or TOML file; default: 128 KiB TCDM, 1.5 MiB L2)")
    p.add_argument("--stack-size", type=_stack_size, default=None, metavar="BYTES",
                   help="stack size per core (default 4096 with pmsis.h)")
    p.add_argument("--compiler", choices=("clang", "gcc"), default="clang")
    p.add_argument("--no-runtime", action="store_true", help="do not link crt0 and the runtime")
    p.set_defaults(func=_cmd_build)

    p = sub.add_parser("plot-banks", help="run a program and draw its per-bank TCDM accesses and conflicts")
    p.add_argument("elf", nargs="+")
    p.add_argument("--platform", default="vega")
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--cores", type=int)
    p.add_argument("--max-cycles", type=int, default=None)
    p.add_argument("-o", "--output", default="banks.png", help="image file (default banks.png)")
    p.set_defaults(func=_cmd_plot_banks)

    p = sub.add_parser("kernel", help="run a library kernel on random data and check it against numpy")
    p.add_argument("name", help="kernel: matmul, or a layer (linear, bias, pointwise, depthwise, conv2d, relu, "
                                "avgpool, softmax_ce, sgd)")
    p.add_argument("--shape", type=int, nargs="+", required=True, metavar="N",
                   help="matmul: M N K; layers: see 'pulpsim kernel --help' (e.g. conv2d: C K H W)")
    p.add_argument("--step", default=None, help="layer step: fw, wg, ig, bw or step (default: the first)")
    p.add_argument("--stride", type=int, default=1, help="depthwise/conv2d stride (1 or 2)")
    p.add_argument("--window", type=int, default=None, help="avgpool window k (stride k; default: global)")
    p.add_argument("--cores", type=int, default=None, help="team size (default: all cores of the platform)")
    p.add_argument("--variant", default="4x4", help="matmul variant (default 4x4)")
    p.add_argument("--platform", default="vega", help="platform preset (default vega)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a platform parameter")
    p.add_argument("--seed", type=int, default=0, help="random seed of the inputs (default 0)")
    p.set_defaults(func=_cmd_kernel)

    p = sub.add_parser("tiling", help="sweep tile shapes and DMA buffering of a layer step with tensors in L2")
    p.add_argument("layer", choices=["pointwise", "linear", "depthwise", "avgpool", "relu", "sgd", "softmax_ce"])
    p.add_argument("--shape", type=int, nargs="+", required=True,
                   help="as for `pulpsim kernel`: pointwise C K H W, linear IN OUT, depthwise/avgpool/relu C H W, "
                        "sgd and softmax_ce N")
    p.add_argument("--step", default=None, help="fw, wg, ig (bw for avgpool/relu, step for sgd); default the first")
    p.add_argument("--l1", type=int, required=True, metavar="BYTES", help="L1 byte budget of the tile buffers")
    p.add_argument("--stride", type=int, default=1, help="depthwise stride, 1 or 2 (default 1)")
    p.add_argument("--window", type=int, default=None, help="avgpool window k (stride k; default: global)")
    p.add_argument("--platform", default="vega")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a platform parameter")
    p.add_argument("--cores", type=int, default=8)
    p.add_argument("--count", type=int, default=4, help="tilings tried per buffering mode (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", metavar="FILE.png", help="draw a bar chart of the sweep")
    p.set_defaults(func=_cmd_tiling)

    p = sub.add_parser("platforms", help="list the platform presets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_platforms)

    p = sub.add_parser("sweep", help="run a sweep of workloads over platform parameters (docs/explore.md)",
                       description="Run every point of SPEC.toml not yet in --out; 'pulpsim sweep plot RESULTS' "
                                   "draws plots of a results table.")
    p.add_argument("spec", metavar="SPEC.toml")
    p.add_argument("--out", metavar="DIR", help="output folder (default sweep-out/<spec name>)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="local worker processes, or Dask workers with --scheduler local (default: CPU count)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT|local",
                   help="run the points on a Dask cluster (local: a LocalCluster of --jobs workers)")
    p.add_argument("--point", metavar="ID", help="run only this point here and print its statistics")
    p.add_argument("--retry-failed", action="store_true", help="re-run the points recorded as failed")
    p.add_argument("--no-plots", action="store_true", help="write the table only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("sweep-plot", prog="pulpsim sweep plot", help="plot a sweep's results (pulpsim sweep plot)")
    p.add_argument("results", metavar="RESULTS", help="results.csv, results.jsonl or the sweep's output folder")
    p.add_argument("--x", help="column on the x axis")
    p.add_argument("--y", help="column on the y axis")
    p.add_argument("--hue", help="one line per value of this column")
    p.add_argument("-o", "--output", help="file (suffix replaced by .png and .svg) or, without --x/--y, a folder")
    p.set_defaults(func=_cmd_sweep_plot)

    if with_cl:
        from .cl import cli as cl_cli
        cl_cli.add_parser(sub, _ArgumentParser)
    else:
        sub.add_parser("cl", help=CL_HELP)
    return parser


#: Commands whose process is short-lived and, once started, allocates little from Python (the simulation runs in
#: compiled code): the cyclic garbage collector is off in their process (see :func:`_without_gc`).
SHORT_COMMANDS = ("run", "disasm", "build", "platforms", "plot-banks")


def _without_gc() -> None:
    """Turn the cyclic garbage collector off for a short command's process, and leave its objects to the exit.

    Starting a simulation imports numpy and Numba and loads Numba's registries: about a million long-lived
    objects, over which the collector would run again and again (0.1 s of a 1 s warm `pulpsim run`), and once
    more at the interpreter's exit (another 0.15 s).  :func:`atexit` hooks run before that last collection;
    ``gc.freeze`` there moves everything into the permanent generation, which the exit's collection skips.
    Reference counting still frees every object that is not in a cycle.
    """
    gc.disable()
    atexit.register(gc.freeze)


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if from_command_line and argv[:1] and argv[0] in SHORT_COMMANDS:
        _without_gc()
        pin_blas_threads(reexec=False)  # before numpy loads: the simulator uses no BLAS (see pulpsim.blas)
    if argv[:1] == ["cl"]:
        pin_blas_threads(reexec=from_command_line)
    parser = build_parser(with_cl=argv[:1] == ["cl"])
    if argv[:1] == ["build"]:
        argv = ["build", *_build_argv(argv[1:])]
    if argv[:2] == ["sweep", "plot"]:
        argv = ["sweep-plot", *argv[2:]]
    try:
        args = parser.parse_args(argv)
        if getattr(args, "max_cycles", None) is not None and args.max_cycles <= 0:
            raise ConfigError(f"--max-cycles must be positive, got {args.max_cycles}")
        return args.func(args)
    except PulpsimError as e:
        sys.stdout.flush()
        print(f"pulpsim: error: {e}", file=sys.stderr)
        return e.exit_status
    except KeyboardInterrupt:
        print("pulpsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
