"""The CORe50 reader on a tiny fabricated sample in the release's two layouts (PNG tree + NICv2 file
lists; core50_imgs.npz + paths.pkl/LUP.pkl/labels.pkl), written here with an independent PNG encoder."""

from __future__ import annotations

import pickle
import struct
import zlib

import numpy as np
import pytest

from pulpsim.cl import core50
from pulpsim.errors import DataError

SESSIONS, OBJECTS, FRAMES = (1, 2, 3, 4), (1, 2, 6), (0, 1)       # s3 is a test session; o6 is category 1
TRAIN_BATCHES = [[(1, 1), (6, 1)], [(2, 2)], [(1, 2), (6, 4)], [(2, 1), (1, 4)], [(6, 2), (2, 4)]]
TEST_UNITS = [(1, 3), (2, 3), (6, 3)]


def png_bytes(img: np.ndarray) -> bytes:
    """A minimal PNG encoder (8-bit RGB, no filtering), from the PNG specification's chunk layout."""
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def path_of(o, s, f):
    return f"s{s}/o{o}/C_{s:02d}_{o:02d}_{f:03d}.png"


@pytest.fixture(scope="module")
def images():
    """The fabricated images, one per (object, session, frame), keyed by their CORe50 path."""
    rng = np.random.default_rng(0)
    return {path_of(o, s, f): rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
            for s in SESSIONS for o in OBJECTS for f in FRAMES}


def unit_lines(units):
    return [f"{path_of(o, s, f)} {o - 1}" for o, s in units for f in FRAMES]


def write_png_form(root, images, run=0):
    for p, img in images.items():
        (root / "core50_128x128" / p).parent.mkdir(parents=True, exist_ok=True)
        (root / "core50_128x128" / p).write_bytes(png_bytes(img))
    lists = root / "NIC_v2_391" / f"run{run}"
    lists.mkdir(parents=True)
    for b, units in enumerate(TRAIN_BATCHES):
        (lists / f"train_batch_{b:02d}_filelist.txt").write_text("\n".join(unit_lines(units)) + "\n")
    (lists / "test_filelist.txt").write_text("\n".join(unit_lines(TEST_UNITS)) + "\n")
    return root


def write_npz_form(root, images, compressed=False, prefix=""):
    paths = list(images)                         # session-major, as the release's paths.pkl
    index = {p: i for i, p in enumerate(paths)}
    paths = [prefix + p for p in paths]
    (np.savez_compressed if compressed else np.savez)(root / "core50_imgs.npz", x=np.stack(list(images.values())))
    batches = [unit_lines(u) for u in TRAIN_BATCHES] + [unit_lines(TEST_UNITS)]
    lup = {"nicv2_391": [[[index[line.split()[0]] for line in b] for b in batches]], "ni": [[[0]]]}
    labels = {"nicv2_391": [[[int(line.split()[1]) for line in b] for b in batches]]}
    for name, obj in (("paths.pkl", paths), ("LUP.pkl", lup), ("labels.pkl", labels)):
        with open(root / name, "wb") as f:
            pickle.dump(obj, f)
    return root


def expected(images, units):
    return np.stack([images[path_of(o, s, f)] for o, s in units for f in FRAMES])


@pytest.mark.parametrize("form", ["png", "npz", "npz-compressed"])
def test_reads_nicv2_batches_in_both_layouts(tmp_path, images, form):
    root = (write_png_form(tmp_path, images) if form == "png"
            else write_npz_form(tmp_path, images, compressed=form.endswith("compressed")))
    sc = core50.load(root)
    assert sc.n_experiences == len(TRAIN_BATCHES) and sc.n_classes == 50
    for b, units in enumerate(TRAIN_BATCHES):
        x, y = sc.experience(b)
        assert np.array_equal(x, expected(images, units))
        assert y.tolist() == [o - 1 for o, _ in units for _ in FRAMES]
    assert np.array_equal(sc.x_test, expected(images, TEST_UNITS))
    assert sc.y_test.tolist() == [o - 1 for o, _ in TEST_UNITS for _ in FRAMES]
    assert sc.session_train.tolist() == [s - 1 for u in TRAIN_BATCHES for _, s in u for _ in FRAMES]
    assert sc.x_train.dtype == np.uint8


def test_npz_stored_uncompressed_is_memory_mapped(tmp_path, images):
    write_npz_form(tmp_path, images)
    x = core50._npz_array(tmp_path / "core50_imgs.npz")
    assert isinstance(x, np.memmap)
    assert np.array_equal(x[5], list(images.values())[5])


def test_category_labels_strides_and_resolution(tmp_path, images):
    write_png_form(tmp_path, images)
    sc = core50.load(tmp_path, labels="category", resolution=32, train_stride=2, test_stride=3)
    assert sc.n_classes == 10
    per_batch = [[(o - 1) // 5 for o, _ in u for _ in FRAMES][::2] for u in TRAIN_BATCHES]
    assert sc.y_train.tolist() == [y for b in per_batch for y in b]
    assert [len(e) for e in sc.experiences] == [len(b) for b in per_batch]
    first = expected(images, TRAIN_BATCHES[0])[::2]
    block = first.reshape(len(first), 32, 4, 32, 4, 3).astype(np.float64).mean((2, 4))
    assert np.array_equal(sc.experience(0)[0], np.floor(block + 0.5).astype(np.uint8))
    assert len(sc.y_test) == len(range(0, len(TEST_UNITS) * len(FRAMES), 3))


def test_resize_area_weights_fractional_pixels():
    """128 -> 96: each output pixel covers 4/3 input pixels in each direction; its value is the
    overlap-weighted mean of the covered input pixels, computed here pixel by pixel, to within the
    rounding to an integer (ties may go either way)."""
    img = np.random.default_rng(1).integers(0, 256, (1, 128, 128, 3), dtype=np.uint8)
    out = core50.resize(img, 96)
    assert out.shape == (1, 96, 96, 3)

    def weights(j):
        lo, hi = j * 4 / 3, (j + 1) * 4 / 3
        return {c: min(hi, c + 1) - max(lo, c) for c in range(int(lo), min(128, int(hi) + 1))
                if min(hi, c + 1) > max(lo, c)}

    for i, j in [(0, 0), (7, 19), (50, 95), (95, 1)]:
        exact = sum(wi * wj * float(img[0, a, b, 2]) for a, wi in weights(i).items()
                    for b, wj in weights(j).items()) / (4 / 3) ** 2
        assert abs(int(out[0, i, j, 2]) - exact) <= 0.5 + 1e-4, (i, j, exact)


def test_missing_files_name_the_file(tmp_path, images):
    write_png_form(tmp_path, images)
    (tmp_path / "core50_128x128" / path_of(6, 4, 1)).unlink()
    with pytest.raises(DataError, match="missing image .*C_04_06_001.png"):
        core50.load(tmp_path)
    (tmp_path / "NIC_v2_391" / "run0" / "train_batch_01_filelist.txt").unlink()
    with pytest.raises(DataError, match="missing NIC_v2_391/run0/train_batch_01_filelist.txt"):
        core50.load(tmp_path)
    (tmp_path / "NIC_v2_391" / "run0" / "test_filelist.txt").unlink()
    with pytest.raises(DataError, match="missing NIC_v2_391/run1/train_batch_00_filelist.txt"):
        core50.load(tmp_path, run=1)


def test_bad_png_and_bad_list_lines(tmp_path, images):
    write_png_form(tmp_path, images)
    (tmp_path / "core50_128x128" / path_of(1, 1, 0)).write_bytes(png_bytes(np.zeros((64, 64, 3), np.uint8)))
    with pytest.raises(DataError, match="C_01_01_000.png is 64x64, expected 128x128"):
        core50.load(tmp_path)
    lst = tmp_path / "NIC_v2_391" / "run0" / "train_batch_02_filelist.txt"
    lst.write_text("s1/o1/C_01_01_000.png\n")
    with pytest.raises(DataError, match="train_batch_02_filelist.txt:1: expected"):
        core50.load(tmp_path)


@pytest.mark.parametrize("damage, match", [
    (lambda r: (r / "LUP.pkl").unlink(), "missing LUP.pkl"),
    (lambda r: (r / "labels.pkl").write_bytes(b"not a pickle"), "labels.pkl: not a readable pickle"),
    (lambda r: np.savez(r / "core50_imgs.npz", x=np.zeros((4, 64, 64, 3), np.uint8)),
     r"core50_imgs.npz: array x is uint8\[4, 64, 64, 3\], expected uint8\[24, 128, 128, 3\]"),
    (lambda r: np.savez(r / "core50_imgs.npz", y=np.zeros(3)), "no array named 'x'"),
])
def test_bad_npz_form_is_a_one_line_error(tmp_path, images, damage, match):
    write_npz_form(tmp_path, images)
    damage(tmp_path)
    with pytest.raises(DataError, match=match) as e:
        core50.load(tmp_path)
    assert "\n" not in str(e.value)


def test_missing_folder_and_unknown_run(tmp_path, images):
    with pytest.raises(DataError, match="does not exist"):
        core50.load(tmp_path / "nowhere")
    with pytest.raises(DataError, match="neither core50_imgs.npz nor core50_128x128/"):
        core50.load(tmp_path)
    write_npz_form(tmp_path, images)
    with pytest.raises(DataError, match="no batch lists for scenario 'nicv2_391', run 3"):
        core50.load(tmp_path, run=3)


def test_reading_in_chunks_gives_the_same_images(tmp_path, images):
    write_npz_form(tmp_path, images)
    sc = core50.load(tmp_path, resolution=32)
    read = core50._npz_form(tmp_path, 0)[2]
    items = [it for b in core50._npz_form(tmp_path, 0)[0] for it in b]
    assert np.array_equal(core50._read_resized(read, items, 32, chunk=3), sc.x_train)
    with pytest.raises(DataError, match="resolution must be in 1..128"):
        core50.load(tmp_path, resolution=256)


def test_npz_paths_with_a_folder_prefix_still_give_sessions(tmp_path, images):
    write_npz_form(tmp_path, images, prefix="core50_128x128/")
    sc = core50.load(tmp_path)
    assert sc.session_train.tolist() == [s - 1 for u in TRAIN_BATCHES for _, s in u for _ in FRAMES]
