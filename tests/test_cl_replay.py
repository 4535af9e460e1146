"""LR memory: bit packing against a big-integer bit stream, the Q-bit reduction against exact
rounding, byte counts against the published memory table, and the AR1* replacement rule."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pulpsim.cl import memory, model, nn, replay
from pulpsim.errors import ConfigError

QS = st.integers(1, 8)


def reference_pack(values, q):
    """The stream as one Python integer: value i at bits i*q.., little-endian bytes."""
    stream = sum(int(v) << (i * q) for i, v in enumerate(values))
    return list(stream.to_bytes(-(-len(values) * q // 8), "little"))


@settings(max_examples=200)
@given(q=QS, data=st.data())
def test_pack_matches_the_reference_bit_stream_and_round_trips(q, data):
    rows = data.draw(st.integers(1, 3))
    elems = data.draw(st.integers(1, 40))
    codes = np.array(data.draw(st.lists(st.integers(0, (1 << q) - 1), min_size=rows * elems, max_size=rows * elems)),
                     dtype=np.uint8).reshape(rows, elems)
    packed = replay.pack_bits(codes, q)
    assert packed.dtype == np.uint8 and packed.shape == (rows, -(-elems * q // 8))
    for r in range(rows):
        assert packed[r].tolist() == reference_pack(codes[r], q)
    np.testing.assert_array_equal(replay.unpack_bits(packed, q, elems), codes)


@given(q=QS, u=st.integers(0, 255))
def test_reduction_rounds_half_up_and_saturates(q, u):
    c = int(replay.reduce_codes(np.array([u], dtype=np.uint8), q)[0])
    step = 1 << (8 - q)
    expected = Fraction(u, step) + Fraction(1, 2)
    assert c == min(expected.numerator // expected.denominator, (1 << q) - 1)
    back = int(replay.expand_codes(np.array([c], dtype=np.uint8), q)[0])
    top = 256 - step
    assert back == c * step
    assert abs(back - u) <= (step // 2 if u <= top else u - top)


def test_reduction_examples():
    u = np.array([0, 1, 2, 3, 127, 128, 191, 192, 254, 255], dtype=np.uint8)
    assert replay.reduce_codes(u, 8).tolist() == u.tolist()
    assert replay.reduce_codes(u, 7).tolist() == [0, 1, 1, 2, 64, 64, 96, 96, 127, 127]
    assert replay.reduce_codes(u, 1).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert replay.reduce_codes(np.array([63, 64], dtype=np.uint8), 1).tolist() == [0, 1]


# ------------------------------------------------------------------------------------------
# byte accounting
# ------------------------------------------------------------------------------------------

# The published LR memory table: bytes per LR (FP32 / UINT8 / 7-bit) and MB for 1500 and 3000 LRs.
PAPER_MEMORY = {
    13: ((131_072, 32_768, 28_672), "196.6 / 49.2 / 43.0", "393.2 / 98.3 / 86.0"),
    19: ((131_072, 32_768, 28_672), "196.6 / 49.2 / 43.0", "393.2 / 98.3 / 86.0"),
    21: ((131_072, 32_768, 28_672), "196.6 / 49.2 / 43.0", "393.2 / 98.3 / 86.0"),
    23: ((32_768, 8_192, 7_168), "49.2 / 12.3 / 10.8", "98.3 / 24.6 / 21.5"),
    25: ((65_536, 16_384, 14_336), "98.3 / 24.6 / 21.5", "196.6 / 49.2 / 43.0"),
    27: ((4_096, 1_024, 896), "6.1 / 1.5 / 1.3", "12.3 / 3.1 / 2.7"),
}


def test_memory_table_matches_the_published_one():
    layers = model.mobilenet_v1()
    rows = {r["index"]: r for r in memory.memory_table(layers)}
    assert sorted(rows) == [13, 15, 17, 19, 21, 23, 25, 27]
    text = memory.format_memory_table(list(rows.values()))
    for idx, (per, mb1500, mb3000) in PAPER_MEMORY.items():
        assert tuple(rows[idx]["bytes_per_lr"].values()) == per
        line = next(li for li in text.splitlines() if li.startswith(f"| {idx} |"))
        assert line.endswith(f"| {mb1500} | {mb3000} |"), line
    assert rows[23]["mb"][(3000, "UINT8")] == 24.576 and rows[23]["mb"][(3000, "UINT7")] == 21.504


def test_allocated_memory_equals_the_accounting():
    layers = model.mobilenet_v1()
    for idx, q in ((23, 7), (23, 8), (27, 3), (27, "fp32")):
        mem = replay.LatentReplayMemory(3000, layers[idx].out_shape, q, 0.1, num_classes=50)
        assert mem.nbytes() == mem.expected_nbytes()
    mem = replay.LatentReplayMemory(3000, (512, 4, 4), 7, 0.1, num_classes=50)
    assert mem.nbytes() == {"lrs": 21_504_000, "labels": 3000, "total": 21_507_000}
    # E*Q not a multiple of 8: each LR rounds up to whole bytes
    assert memory.lr_bytes(5, 3) == 2 and memory.lr_bytes(1024, 1) == 128 and memory.lr_bytes(7, 8) == 7
    assert memory.label_bytes(50) == 1 and memory.label_bytes(256) == 1 and memory.label_bytes(257) == 2


def test_weight_bytes_match_the_arrays_they_count():
    layers = model.mobilenet_v1(0.25, 32, 10)
    frozen, adaptive = model.split(layers, 19)
    params = nn.init_params(adaptive, np.random.default_rng(0), batchnorm=False)
    assert memory.adaptive_weight_bytes(adaptive) == sum(a.nbytes for p in params.values() for a in p.values())
    from pulpsim.cl import quant
    x = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    stage = quant.quantize_stage(frozen, nn.init_params(frozen, np.random.default_rng(2)), x)
    device = sum(ql.w.size + 4 * ql.bias.size + 5 * ql.multiplier.size for ql in stage.layers if ql.w is not None)
    assert memory.frozen_weight_bytes(frozen) == device
    cfg = memory.configuration_bytes(model.mobilenet_v1(), 19, 1500, 8)
    assert cfg["lrs"] == 1500 * 32_768 and cfg["labels"] == 1500
    assert cfg["adaptive_weights"] == 4 * (2_166_784 + 4 * 512 + 1024 + 1024 + 1024) == cfg["momentum"]
    assert cfg["total"] == sum(v for k, v in cfg.items() if k != "total")


@pytest.mark.parametrize("value,expected", [("fp32", "fp32"), ("FP32", "fp32"), (8, 8), ("7", 7), ("uint1", 1),
                                            ("UINT4", 4)])
def test_parse_precision(value, expected):
    assert memory.parse_precision(value) == expected


@pytest.mark.parametrize("bad", [0, 9, "uint9", "int8", "", 7.5, True, -1, "fp16"])
def test_bad_precision_is_a_config_error(bad):
    with pytest.raises(ConfigError, match="LR precision"):
        memory.parse_precision(bad)


# ------------------------------------------------------------------------------------------
# the memory
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("q", [8, 7, 5, 3, 1])
def test_insert_and_replay_round_trip(q):
    rng = np.random.default_rng(q)
    mem = replay.LatentReplayMemory(10, (3, 2, 5), q, 0.05, num_classes=10)
    codes = rng.integers(0, 256, (4, 3, 2, 5), dtype=np.uint8)
    mem.write([2, 0, 7, 3], codes, [1, 2, 3, 9])
    assert len(mem) == 8
    lrs, labels = mem.get([2, 0, 7, 3])
    assert lrs.dtype == np.float32 and lrs.shape == (4, 3, 2, 5) and labels.tolist() == [1, 2, 3, 9]
    step = 1 << (8 - q)
    expected = np.minimum((codes.astype(int) + step // 2) // step, (1 << q) - 1) * step
    np.testing.assert_array_equal(lrs, expected.astype(np.float32) * np.float32(0.05))
    # float LRs are quantized with the memory's scale first
    mem.write([5], codes[:1].astype(np.float64) * 0.05 + 0.01, [4])
    np.testing.assert_array_equal(mem.get([5])[0], lrs[:1])


def test_fp32_memory_keeps_floats_and_dequantizes_codes():
    mem = replay.LatentReplayMemory(3, (2, 1, 1), "fp32", 0.5, num_classes=4)
    mem.write([0, 1], np.array([[[[0.3]], [[7.25]]], [[[0.0]], [[1e-7]]]]), [0, 3])
    mem.write([2], np.array([[[[3]], [[255]]]], dtype=np.uint8), [1])
    lrs, _ = mem.get([0, 1, 2])
    np.testing.assert_array_equal(lrs.ravel(), np.float32([0.3, 7.25, 0.0, 1e-7, 1.5, 127.5]))


def test_bad_memory_arguments():
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ConfigError, match="capacity"):
            replay.LatentReplayMemory(bad, (1, 1, 1), 8, 1.0)
    with pytest.raises(ConfigError, match="LR precision"):
        replay.LatentReplayMemory(4, (1, 1, 1), 9, 1.0)
    mem = replay.LatentReplayMemory(4, (1, 1, 2), 8, 1.0, num_classes=3)
    with pytest.raises(ValueError, match="shape"):
        mem.write([0], np.zeros((1, 2, 1, 1), np.uint8), [0])
    with pytest.raises(ValueError, match="label"):
        mem.write([0], np.zeros((1, 1, 1, 2), np.uint8), [3])
    with pytest.raises(IndexError):
        mem.write([4], np.zeros((1, 1, 1, 2), np.uint8), [0])
    with pytest.raises(IndexError):
        mem.get([0])


def _experience(j, n, shape=(1, 1, 1)):
    """n LRs whose single value and label both identify experience j."""
    return np.full((n, *shape), j, dtype=np.uint8), np.full(n, j)


def test_update_follows_the_ar1_quota():
    mem = replay.LatentReplayMemory(100, (1, 1, 1), 8, 1.0, num_classes=50)
    rng = np.random.default_rng(0)
    slots = mem.update(*_experience(0, 300), 0, rng)
    assert slots.tolist() == list(range(100)) and len(mem) == 100      # the first experience fills it
    for i, n in ((1, 300), (2, 300), (3, 10)):
        slots = mem.update(*_experience(i, n), i, rng)
        h = min(100 // (i + 1), n)
        assert len(slots) == h == len(set(slots.tolist()))
        lrs, labels = mem.get(np.arange(100))
        assert (labels == i).sum() == h                                # the new ones all landed
        np.testing.assert_array_equal(lrs.ravel(), labels)             # LR and label stay together
    # a first experience smaller than the memory: free slots are filled first
    mem = replay.LatentReplayMemory(100, (1, 1, 1), 8, 1.0, num_classes=50)
    mem.update(*_experience(0, 30), 0, rng)
    assert len(mem) == 30
    slots = mem.update(*_experience(1, 300), 1, rng)
    assert slots.tolist() == list(range(30, 80)) and len(mem) == 80
    slots = mem.update(*_experience(2, 300), 2, rng)                   # h = 33: 20 free slots, 13 overwritten
    assert slots[:20].tolist() == list(range(80, 100)) and len(mem) == 100
    assert len(set(slots[20:].tolist())) == 13 and slots[20:].max() < 80


def test_update_keeps_an_equal_share_per_experience():
    """Expected survivors of experience j after experience i: h_j * prod_{t>j} (1 - h_t / M),
    with h_t = M // (t + 1); that is about M / (i + 1) for every j."""
    M, E, runs = 200, 8, 150
    h = [M // (t + 1) for t in range(E)]
    expected = [h[j] * np.prod([1 - h[t] / M for t in range(j + 1, E)]) for j in range(E)]
    counts = np.zeros(E)
    for seed in range(runs):
        mem = replay.LatentReplayMemory(M, (1, 1, 1), 1, 1.0, num_classes=E)
        rng = np.random.default_rng(seed)
        for t in range(E):
            mem.update(np.zeros((400, 1, 1, 1), np.uint8), np.full(400, t), t, rng)
        counts += np.bincount(mem.get(np.arange(M))[1], minlength=E)
    mean = counts / runs
    # each count has variance below h_j, so the mean of `runs` runs is within 5 sigma of
    # sqrt(h_j / runs) of its expectation
    for j in range(E):
        assert abs(mean[j] - expected[j]) <= 5 * np.sqrt(h[j] / runs), (j, mean[j], expected[j])
    assert max(expected) - min(expected) <= 3                       # the rule's point: equal shares


def test_update_is_deterministic_for_a_seed():
    def run(seed):
        mem = replay.LatentReplayMemory(50, (2, 2, 2), 5, 0.1, num_classes=10)
        rng = np.random.default_rng(seed)
        data = np.random.default_rng(99).integers(0, 256, (6, 80, 2, 2, 2), dtype=np.uint8)
        for t in range(6):
            mem.update(data[t], np.full(80, t), t, rng)
        return mem.state()
    a, b, c = run(7), run(7), run(8)
    np.testing.assert_array_equal(a["data"], b["data"])
    np.testing.assert_array_equal(a["labels"], b["labels"])
    assert not np.array_equal(a["labels"], c["labels"])
    restored = replay.LatentReplayMemory.from_state(a)
    np.testing.assert_array_equal(restored.get(np.arange(50))[0],
                                  replay.LatentReplayMemory.from_state(b).get(np.arange(50))[0])
    with pytest.raises(ValueError):
        replay.LatentReplayMemory.from_state({**a, "precision": 6})


@pytest.mark.parametrize("precision", ["fp32", 7])
def test_state_round_trips_through_npz(tmp_path, precision):
    mem = replay.LatentReplayMemory(5, (2, 1, 1), precision, 0.5, num_classes=10)
    mem.update(np.arange(6, dtype=np.uint8).reshape(3, 2, 1, 1), [1, 2, 3], 0, np.random.default_rng(0))
    np.savez(tmp_path / "m.npz", **mem.state())
    with np.load(tmp_path / "m.npz") as f:
        back = replay.LatentReplayMemory.from_state(dict(f))
    assert (back.precision, len(back), back.capacity) == (mem.precision, 3, 5)
    for a, b in zip(back.get(range(3)), mem.get(range(3))):
        np.testing.assert_array_equal(a, b)
