"""pulpsim's Numba policy (pulpsim.sim.jit): what it compiles for a helper of the engine, and its array indexing
without wrap-around, which applies to pulpsim's compiled functions only, never to other Numba code in the process."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from numba import njit

from pulpsim.sim.jit import jit, jit_entry, jit_inline


@jit
def _scaled(a, i, k):
    a[i] *= k
    return a[i] + 1


@njit
def _calls_with_constants(a):
    # the same helper with a constant and with a variable argument, as the engine calls its units
    x = _scaled(a, 0, 3)
    k = a.shape[0]
    return x + _scaled(a, 1, k)


def test_a_constant_argument_compiles_no_second_version_of_a_helper():
    a = np.array([2, 5], np.int64)
    assert _calls_with_constants(a) == 2 * 3 + 1 + 5 * 2 + 1
    # Numba would otherwise type _scaled(a, 0, 3) as (array, Literal[int](0), Literal[int](3)): a second
    # compilation of the helper, for those constants
    assert len(_scaled.overloads) == 1


def test_a_helper_compiled_without_python_wrappers_can_still_be_called_from_python():
    a = np.array([4], np.int64)
    assert _scaled(a, 0, 2) == 9
    assert a[0] == 8


def _element(a, i):
    return a[i]


def _element_via_inline_helper(a, i):
    return _inlined(a, i)


_inlined = None


@pytest.fixture
def compiled(tmp_path, monkeypatch):
    """The policy's dispatchers, cached in a fresh directory (a cache kept from another version of the policy
    would answer for it)."""
    global _inlined
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    _inlined = jit_inline(_element)
    return jit(_element), jit(_element_via_inline_helper)


def _base_and_view():
    """An array and a view of it that starts one element later: index -1 of the view, taken literally, is the
    base's element 0 (memory that belongs to the base array, so the test reads nothing outside it)."""
    base = np.arange(10, 20, dtype=np.int64)
    return base, base[1:]


def test_policy_indexes_literally(compiled):
    element, _ = compiled
    base, view = _base_and_view()
    assert element(view, 3) == 14
    assert element(view, -1) == base[0]  # no wrap-around: the address one element before the view


def test_policy_applies_inside_numba_level_inlining(compiled):
    _, caller = compiled
    base, view = _base_and_view()
    assert caller(view, -1) == base[0]


def test_other_numba_code_keeps_python_indexing(compiled):
    element, _ = compiled
    base, view = _base_and_view()
    element(view, 0)  # compile a policy function first: the switch must not leak
    assert njit(_element)(view, -1) == view[-1] == 19
    assert njit(lambda a: a[-2])(view) == 18


def test_policy_applies_to_the_helpers_an_entry_point_calls(tmp_path, monkeypatch):
    """How the engine compiles: its entry point, and inside that compilation the helpers it calls."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    helper = jit(_element)
    entry = jit_entry(lambda a, i: helper(a, i))
    base, view = _base_and_view()
    assert entry(view, -1) == base[0]


def _entry_body(a, i):
    return a[i]


def test_an_uncached_entry_point_follows_the_policy_and_is_not_written_to_the_cache(tmp_path, monkeypatch):
    """jit_entry(cache=False): for compiled code outside the package (a benchmark's loop), whose cached copy
    would keep an old version of the helpers it inlines."""
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    uncached = jit_entry(cache=False)(_entry_body)
    base, view = _base_and_view()
    assert uncached(view, -1) == base[0]
    assert not [p for p in tmp_path.rglob("*") if "_entry_body" in p.name]
    cached = jit_entry(_entry_body)  # the default, for comparison: its index and data are written
    assert cached(view, -1) == base[0]
    assert [p for p in tmp_path.rglob("*") if "_entry_body" in p.name]


def test_every_module_with_compiled_code_is_in_the_cache_fingerprint():
    """A module the engine compiles or inlines must invalidate the cache when it changes (Numba itself only
    watches the file of each cached function, and the engine inlines the core loop, the arbitration, ...)."""
    from pathlib import Path

    from pulpsim.sim import jitcache

    package = Path(jitcache.__file__).parent
    compiled = {p.name for p in package.glob("*.py")
                if any(mark in p.read_text() for mark in ("@jit", "@intrinsic"))}
    assert {"core.py", "engine.py", "arbiter.py", "bits.py"} <= compiled
    assert compiled <= {p.name for p in jitcache.fingerprinted_modules()}


def _options_variants():
    """Compile options as Numba makes them: defaults, some set (one to its default value), copies."""
    from numba.core.compiler import Flags

    plain = Flags()
    some = Flags()
    some.nrt = True
    some.error_model = "numpy"
    some.boundscheck = False  # set, to its default value
    other = Flags(some)
    other.fastmath = True
    return [plain, some, Flags(some), other, Flags(plain)]


def test_the_faster_compile_options_methods_give_numbas_results():
    """pulpsim's compilations hash and compare Numba's compile options with faster methods; they must give what
    Numba's own methods give, which are back in place outside the policy's compilations."""
    from numba.core.targetconfig import TargetConfig

    from pulpsim.sim import jit as policy

    numba_methods = (TargetConfig.__hash__, TargetConfig.__eq__, TargetConfig.values)
    variants = _options_variants()
    expected = [(hash(a), [a == b for b in variants], a.values()) for a in variants]
    with policy._fast_configs():
        assert TargetConfig.values is not numba_methods[2]  # (the switch is on)
        got = [(hash(a), [a == b for b in variants], a.values()) for a in variants]
    assert got == expected
    assert (TargetConfig.__hash__, TargetConfig.__eq__, TargetConfig.values) == numba_methods


def _branchy_helper(a, k):
    # several blocks and variables: the inliner copies them all
    s = 0
    for i in range(a.shape[0]):
        if a[i] > k:
            s += a[i] - k
        elif a[i] == k:
            s += 100
        else:
            t = k - a[i]
            s -= t * t
    return s


def test_numba_level_inlining_under_the_policy_copies_callees_correctly(tmp_path, monkeypatch):
    """The policy's copy of an inlined callee (one memo for all its blocks): the same results as numpy, with the
    helper inlined twice into one caller (two copies of its IR, whose variables must stay apart)."""
    from numba.core import inline_closurecall

    from pulpsim.sim import jit as policy

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    helper = jit_inline(_branchy_helper)
    entry = jit_entry(cache=False)(lambda a, b, k: helper(a, k) * 1000 + helper(b, k + 1))
    a = np.array([1, 5, 3, 7, 3], np.int64)
    b = np.array([4, 4, 9], np.int64)

    def reference(x, k):
        return int(np.where(x > k, x - k, np.where(x == k, 100, -(k - x) ** 2)).sum())

    assert entry(a, b, 3) == reference(a, 3) * 1000 + reference(b, 4)
    assert inline_closurecall.InlineWorker.inline_ir is policy._INLINE_IR  # Numba's own, outside the policy


def test_the_ext_tsp_layout_is_switched_on_only_while_such_an_entry_compiles(monkeypatch):
    """jit_entry(ext_tsp=True) sets LLVM's ext-TSP block placement for its own compilation and switches it off
    again (LLVM's options are global to the process); other entries leave it alone. The one-core loop uses it."""
    from pulpsim.sim import engine, jit as jit_module

    calls = []
    import llvmlite.binding
    monkeypatch.setattr(llvmlite.binding, "set_option", lambda name, option: calls.append(option))

    @jit_entry(cache=False, ext_tsp=True)
    def laid_out(x):
        return x + 1

    @jit_entry(cache=False)
    def default(x):
        return x + 2

    assert (laid_out(1), calls) == (2, [f"{jit_module.EXT_TSP_OPTION}=true", f"{jit_module.EXT_TSP_OPTION}=false"])
    calls.clear()
    assert (default(1), calls) == (3, [])
    assert engine.run_alone.ext_tsp and not engine.run.ext_tsp


def test_error_messages_carry_no_colour_markup_only_while_pulpsim_compiles(tmp_path, monkeypatch):
    """During a compilation under the policy Numba's error-message colour scheme returns every text as it is;
    before and after it, Numba's own scheme is in place."""
    from numba.core import errors

    from pulpsim.sim import jit as policy

    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))
    numbas = errors.termcolor()
    seen = []

    def record(policy_compile):
        def compile_and_look(self, sig):
            seen.append(errors.termcolor())
            return policy_compile(self, sig)
        return compile_and_look

    monkeypatch.setattr(policy.CPUDispatcher, "compile", record(policy.CPUDispatcher.compile))
    entry = jit_entry(cache=False)(lambda a: a[0] + 1)
    assert entry(np.array([41], np.int64)) == 42
    (inside,) = seen
    assert isinstance(inside, policy._PlainMessages)
    assert [inside.errmsg("x"), inside.code("y"), inside.highlight("z")] == ["x", "y", "z"]
    assert errors.termcolor() is numbas
