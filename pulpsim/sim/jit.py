"""The one Numba policy of pulpsim's compiled code.

Every compiled function of the simulator is declared with :func:`jit` (LLVM inlines it where its heuristics say
so), :func:`jit_forceinline` (LLVM always inlines it: the dispatch of the two busiest units) or :func:`jit_inline`
(Numba inlines it before typing: the small helpers that take arrays, and the core loop); the engine's entry
points, the functions Python calls, with :func:`jit_entry`. The options live in one place:

- ``cache=True``: compiled code is kept in Numba's on-disk cache (see :mod:`pulpsim.sim.jitcache`).
- ``error_model="numpy"``: integer division by zero is not checked by Numba (every guest division is guarded
  explicitly), which keeps divisions branch-free.
- ``_nrt=False``: no reference counting. The engine never allocates: it works on arrays the Python side owns for
  the whole call. With the runtime on, every call of a helper that takes arrays would increment and decrement
  each array's reference count with atomic instructions; measured on the 8-core tiled pointwise benchmark, that
  was 40 % of the host time.
- ``no_cpython_wrapper`` / ``no_cfunc_wrapper`` for every function but the entry point: by default Numba also
  compiles, for each function, a wrapper that unboxes Python arguments (for an array, a call into Numba's
  runtime and a dozen fields) and a C-callable wrapper. Compiled functions call each other directly, never
  through either, so for the engine's helpers they are pure compile time: leaving them out cut the first run's
  compilation by 11 % (27.9 s to 24.7 s CPU for a small ELF). A helper called from Python (a test, an
  interactive session) runs a copy compiled with the wrappers instead (see :class:`CalleeDispatcher`).
- No wrap-around of negative array indices. Numba follows Python and maps an index i < 0 to i + n, which costs
  a comparison, an addition and a load of the dimension's size at every array access with a variable index (a
  register read ``xreg[c, rs1]`` has two). pulpsim's compiled code never indexes with a negative number: indices
  are core ids, register numbers, opcodes and table rows from the decoder, or offsets that
  :func:`pulpsim.sim.memory.find_region` checked against the platform's regions (Numba checks no bounds either,
  so every index is already guarded by the code that computes it). Measured: 6-12 % faster on the speed
  benchmarks. The switch is scoped to the compilation of pulpsim's own functions (see :class:`PolicyDispatcher`);
  other Numba code in the same process keeps Python's semantics.
- Two of Numba's own compile steps replaced, during pulpsim's compilations only, by faster code with the same
  result: the inliner's copy of a callee's IR (one memo for all its blocks, see :func:`_inline_ir_one_memo`),
  and the hash and comparison of the compile options (:func:`_fast_configs`). Together they take the first run
  of a small ELF from 23 s to 14 s of CPU. Each is checked against the Numba it finds and left out, keeping
  Numba's own step, where that is laid out differently. Likewise, the error messages Numba writes for each
  typing template that does not match a call carry no colour markup (:class:`_PlainMessages`: about 0.3 s).
- A cached entry point's first compilation starts a helper process that compiles its largest callees into the same
  cache meanwhile (:mod:`pulpsim.sim.compile_ahead`; :class:`CalleeDispatcher` waits for them at their first
  call): the first run on two cores.
- The one-core loop (``engine.run_alone``, ``jit_entry(ext_tsp=True)``) is laid out by LLVM's ext-TSP block
  placement (``-enable-ext-tsp-block-placement``, in LLVM's MachineBlockPlacement), which orders the machine
  code's blocks for fewer taken branches, instead of the default chain placement. The loop's speed depends on
  where its code lands (docs/architecture.md, "Why the speed varies"); over engine loads and stack depths
  (``benchmarks/placement.py``) it was faster at every placement and far less dependent on it (the figures are in
  docs/architecture.md, "The one-core loop laid out by ext-TSP"). The cluster's loops (``engine.run``,
  ``engine.run_shared_fpus``, ``engine.run_loads_ahead``) keep the default: with ext-TSP it measured 0-4 % slower.
  The option is LLVM's (global to the process): it is set only while such an entry compiles, under Numba's
  compiler lock; an LLVM without it ignores it.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager

from numba import types
from numba.core import event as _event
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import CPUDispatcher

from . import compile_ahead

try:  # Numba's IR inliner (numba/core/inline_closurecall.py); the names are checked before use
    from numba.core import inline_closurecall as _inliner
    _INLINE_IR = getattr(getattr(_inliner, "InlineWorker", None), "inline_ir", None)
    if getattr(_inliner, "copy", None) is not copy:
        _INLINE_IR = None
except ImportError:  # pragma: no cover - another Numba layout: keep Numba's inliner as it is
    _inliner = None
    _INLINE_IR = None

try:  # Numba's compiler options (numba/core/targetconfig.py); the names are checked before use
    from numba.core.targetconfig import TargetConfig as _TargetConfig
    _CONFIG_METHODS = (_TargetConfig.__hash__, _TargetConfig.__eq__, _TargetConfig.values)
except (ImportError, AttributeError):  # pragma: no cover - another Numba layout: keep Numba's methods
    _TargetConfig = None
    _CONFIG_METHODS = None

try:  # Numba's error messages (numba/core/errors.py); the name is checked before use
    from numba.core import errors as _errors
    if not hasattr(_errors, "_termcolor_inst"):
        _errors = None
except ImportError:  # pragma: no cover - another Numba layout: keep Numba's colours
    _errors = None

try:  # Numba's array-indexing lowering (numba/np/arrayobj.py); the name is checked before use
    from numba.np import arrayobj as _arrayobj
    _WRAPAROUND = getattr(_arrayobj, "fix_integer_index", None)
except ImportError:  # pragma: no cover - another Numba layout: keep Numba's default indexing
    _arrayobj = None
    _WRAPAROUND = None

_CODE = dict(error_model="numpy", _nrt=False)


def _index_as_is(context, builder, idxty, idx, size):
    """Numba's fix_integer_index without the wrap-around of negative signed indices."""
    if idxty.signed:
        return context.cast(builder, idx, idxty, types.intp)
    return _WRAPAROUND(context, builder, idxty, idx, size)


@contextmanager
def _swapped(owner, replacements):
    """Set the attributes of `owner` named in `replacements` to their values while this block runs, then restore
    them (nothing, if `owner` is None: the Numba found is laid out differently)."""
    if owner is None:
        yield
        return
    saved = {name: getattr(owner, name) for name in replacements}
    for name, value in replacements.items():
        setattr(owner, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


class _OneMemoCopy:
    """Stands in for the ``copy`` module inside Numba's ``InlineWorker.inline_ir`` for one inlining: every
    ``deepcopy`` shares one memo (see _inline_ir_one_memo)."""

    def __init__(self):
        self.memo = {}

    def deepcopy(self, x, memo=None):
        return copy.deepcopy(x, self.memo if memo is None else memo)

    copy = staticmethod(copy.copy)


def _inline_ir_one_memo(worker, *args, **kws):
    """Numba's InlineWorker.inline_ir, with the callee's IR copied block by block under one shared memo.

    Numba copies each block of the callee with a memo of its own, so every block copies again the function's
    whole scope (every variable of the callee, each with its location): the cost grows with blocks times
    variables, and the core loop, inlined into each scheduler, has many of both. With one memo the copy keeps
    the sharing of the original (one scope for all blocks, as the inliner then expects: it looks for the one
    scope of the callee). Measured on the first run of a small one-core ELF (alternating cold runs): 14.0-14.4 s of
    CPU against 22.4-22.7 s with Numba's copy."""
    with _swapped(_inliner, {"copy": _OneMemoCopy()}):
        return _INLINE_IR(worker, *args, **kws)


def _config_values(config):
    """TargetConfig.values: every option's value (the set one, else its default), read without going through
    each option's property."""
    get = config._values.get
    return {name: get(name, option.default) for name, option in config.options.items()}


def _config_hash(config):
    """TargetConfig.__hash__: Numba hashes the sorted keys of values(), that is the sorted option names."""
    return hash(tuple(sorted(config.options)))


def _config_eq(config, other):
    """TargetConfig.__eq__, with _config_values."""
    if isinstance(other, _TargetConfig):
        return _config_values(config) == _config_values(other)
    return NotImplemented


def _fast_configs():
    """Numba's compiler options hashed and compared by faster methods of the same results, while the block runs.

    The typing of every operation looks its implementation up in caches keyed by the compilation's options
    (numba/core/typing/templates.py, _get_impl), and each lookup hashed and compared the options by reading
    every option through its property. Measured: 14.0-14.4 s of CPU for the first run of a small ELF against
    14.5-14.9 s with Numba's methods (alternating cold runs)."""
    return _swapped(_TargetConfig if _CONFIG_METHODS is not None else None,
                    {"__hash__": _config_hash, "__eq__": _config_eq, "values": _config_values})


class _PlainMessages:
    """Numba's colour scheme for error messages, without colours: each method returns the text as it is.

    While a function's types are inferred, Numba tries the typing templates of a call in turn and writes an error
    message, with colour markup when colorama is installed, for each one that does not match: about 22,000
    pieces of text for the first run of a small ELF, which nobody reads (pulpsim's functions compile without
    errors). The markup sets a colorama terminal up and tears it down for each piece: 13 us each on the
    reference machine, about 0.3 s of the first run's compilation."""

    def _same(self, msg):
        return msg

    code = errmsg = filename = indicate = highlight = reset = _same


EXT_TSP_OPTION = "-enable-ext-tsp-block-placement"  #: LLVM's switch of its ext-TSP block placement (off by default)


@contextmanager
def _ext_tsp_layout(on):
    """Have LLVM lay the machine code's blocks out by ext-TSP while the block runs, if `on` (then back to its
    default, off)."""
    if not on:
        yield
        return
    import llvmlite.binding as llvm  # (here: a warm run, which compiles nothing, does not need it)
    llvm.set_option("pulpsim", f"{EXT_TSP_OPTION}=true")
    try:
        yield
    finally:
        llvm.set_option("pulpsim", f"{EXT_TSP_OPTION}=false")


@contextmanager
def _policy(ext_tsp=False):
    """Compile under pulpsim's policy, under Numba's compiler lock (which every compilation holds, so no other
    compilation can see the switches): array indices without wrap-around, two faster equivalents of Numba's
    own steps (the inliner's copy of a callee, the options' hash and comparison), error messages without
    colour markup (_PlainMessages), and (`ext_tsp`) LLVM's ext-TSP block layout."""
    with (global_compiler_lock,
          _swapped(_arrayobj if _WRAPAROUND is not None else None, {"fix_integer_index": _index_as_is}),
          _swapped(_errors, {"_termcolor_inst": _PlainMessages()}),
          _fast_configs(),
          _swapped(_inliner.InlineWorker if _INLINE_IR is not None else None, {"inline_ir": _inline_ir_one_memo}),
          _ext_tsp_layout(ext_tsp)):
        yield


def compile_policy():
    """The compile policy of pulpsim's functions (see _policy), for a compilation started outside an entry point
    (pulpsim.sim.compile_ahead's helper process)."""
    return _policy()


class _EntryCompiles(_event.Listener):
    """Starts compile_ahead's helper when `entry` itself compiles (Numba's compile event fires only when the
    cache missed), not when one of its callees does."""

    def __init__(self, entry):
        self.entry = entry

    def on_start(self, event):
        if event.data.get("dispatcher") is self.entry:
            compile_ahead.start(self.entry.py_func.__name__)

    def on_end(self, event):
        pass


class PolicyDispatcher(CPUDispatcher):
    """A function compiled from Python (the engine's entry point, or the copy of a helper that Python calls)
    under the indexing policy. The helpers it calls compile inside its compilation, so they follow the policy
    too; they do not switch it themselves, because one more Python frame per level of Numba's deeply nested
    compilation made CPython 3.11 allocate and free its frame-stack chunks over and over (measured: 2.4 times the
    page faults, 2-5 s more system time on a first run). A helper first compiled by other Numba code, outside
    pulpsim, gets Numba's default indexing: slower, not different."""

    ext_tsp = False  #: lay the compiled code out with LLVM's ext-TSP block placement (see jit_entry)
    compiles_ahead = False  #: a cached entry point: its first compilation starts compile_ahead's helper

    def compile(self, sig):
        if not self.compiles_ahead:
            with _policy(self.ext_tsp):
                return super().compile(sig)
        try:
            with _policy(self.ext_tsp), _event.install_listener("numba:compile", _EntryCompiles(self)):
                return super().compile(sig)
        finally:
            compile_ahead.finish()


class ExtTspDispatcher(PolicyDispatcher):
    """A PolicyDispatcher whose machine code LLVM lays out by ext-TSP block placement (jit_entry(ext_tsp=True))."""

    ext_tsp = True


def _dispatcher(cls, fn, *, cache, **options):
    disp = cls(py_func=fn, locals={}, targetoptions=dict(_CODE, nopython=True, **options))
    if cache:
        disp.enable_caching()
    return disp


class CalleeDispatcher(CPUDispatcher):
    """A function compiled without Python wrappers: compiled code calls it; called from Python, it runs a copy
    compiled (on first use, not cached) with the wrappers.

    Calling the wrapper-less compiled code from Python would jump into a missing entry point; the copy keeps
    such calls correct. It is not cached because Numba's cache tells versions of a function apart only by
    signature, not by these options.
    """

    def get_call_template(self, args, kws):
        """Type a call from compiled code for the arguments' plain types: a constant argument (``f(x, 0)``)
        would otherwise compile a version of the callee for that constant."""
        return super().get_call_template(tuple(types.unliteral(a) for a in args),
                                         {k: types.unliteral(v) for k, v in kws.items()})

    def compile(self, sig):
        compile_ahead.wait_for(self)  # (compiled meanwhile by the helper of pulpsim.sim.compile_ahead?)
        return super().compile(sig)

    def __call__(self, *args, **kws):
        py = self.__dict__.get("_python_copy")
        if py is None:
            py = self._python_copy = _dispatcher(PolicyDispatcher, self.py_func, cache=False)
        return py(*args, **kws)


def _callee(fn, **options):
    return _dispatcher(CalleeDispatcher, fn, cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True, **options)


def jit(fn):
    """Compile `fn` with pulpsim's policy, to be called by other compiled functions."""
    return _callee(fn)


def jit_forceinline(fn):
    """Compile `fn` with pulpsim's policy, once, and have LLVM inline it into every caller (Numba's ``forceinline``:
    LLVM's ``alwaysinline``). Its statements are typed and lowered once, unlike a ``jit_inline`` function's, which
    are again at every call site. For functions of scalars (the generated dispatch), where Numba's inlining has
    no array descriptors to save either."""
    return _callee(fn, forceinline=True)


def jit_inline(fn):
    """Compile `fn` with pulpsim's policy and inline it into every caller at Numba's IR level."""
    return _callee(fn, inline="always")


def jit_entry(fn=None, *, cache=True, ext_tsp=False):
    """Compile `fn` with pulpsim's policy, with the wrapper that lets Python call it (the engine's entry).

    ``cache=False`` is for compiled code outside the package that calls pulpsim's helpers (a benchmark's loop):
    Numba would cache it with the helpers compiled into it, and the cache check that recompiles pulpsim's own
    functions when a source changes (:mod:`pulpsim.sim.jitcache`) does not look at other files.
    ``ext_tsp=True`` lays its machine code out with LLVM's ext-TSP block placement (the module's docstring)."""
    if fn is None:
        return lambda f: jit_entry(f, cache=cache, ext_tsp=ext_tsp)
    entry = _dispatcher(ExtTspDispatcher if ext_tsp else PolicyDispatcher, fn, cache=cache)
    entry.compiles_ahead = cache
    return entry
