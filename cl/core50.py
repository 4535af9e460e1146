"""Reader of the real CORe50 data set (128 x 128 release) and its NICv2-391 batch lists. Never downloads.

CORe50 (Lomonaco and Maltoni, "CORe50: a new dataset and benchmark for continuous object recognition",
CoRL 2017; https://vlomonaco.github.io/core50/) has 50 objects in 10 categories (object ``o`` in
``1..50`` belongs to category ``(o - 1) // 5``), each filmed in 11 sessions (``s1..s11``; ``s3``, ``s7``
and ``s10`` are the test sessions). The folder ``DIR`` given to :func:`load` holds one of its two forms:

* **the NumPy form**: ``core50_imgs.npz`` (one array ``x`` of shape ``(164866, 128, 128, 3)`` uint8, in
  the order of ``paths.pkl``), ``paths.pkl`` (a list of paths such as ``s1/o1/C_01_01_000.png``),
  ``LUP.pkl`` and ``labels.pkl`` (``LUP[scenario][run][b]`` lists the image indices of training batch
  ``b``, the last entry those of the test set; ``labels[scenario][run][b]`` their object labels 0..49);
* **the PNG form**: the folder tree ``core50_128x128/s1/o1/C_01_01_000.png`` (``C_<session>_<object>_
  <frame>.png``) and the batch lists ``NIC_v2_391/run0/train_batch_00_filelist.txt`` ... and
  ``test_filelist.txt``, one ``<path> <object label>`` per line, paths relative to ``core50_128x128/``.

The NumPy form is used when ``core50_imgs.npz`` is present. The array is memory-mapped when the archive
stores it uncompressed, so that only the selected images are read. Labels are object labels (50 classes,
as AR1* and the NICv2 lists use them) or category labels (``label // 5``).
"""

from __future__ import annotations

import pickle
import re
import struct
import zipfile
from pathlib import Path

import numpy as np

from pulpsim.errors import DataError

from .scenario import Scenario

NPZ, PATHS, LUP, LABELS = "core50_imgs.npz", "paths.pkl", "LUP.pkl", "labels.pkl"
PNG_DIR = "core50_128x128"
#: Scenario name in ``LUP.pkl``/``labels.pkl`` and folder of the batch lists.
SCENARIO_KEY, LIST_DIR = "nicv2_391", "NIC_v2_391"
SIDE = 128
_PATH_RE = re.compile(r"^s(\d+)/o(\d+)/[^/\s]+\.png$")
_SESSION_RE = re.compile(r"(?:^|/)s(\d+)/o\d+/[^/]+$")


def load(root, *, run: int = 0, labels: str = "object", resolution: int = SIDE, train_stride: int = 1,
         test_stride: int = 1) -> Scenario:
    """CORe50's NICv2-391 scenario (run ``run``) from the folder ``root``, as a :class:`Scenario`.

    ``train_stride``/``test_stride`` keep every k-th image of each training batch / of the test list (AR1*
    tests on every 20th test image); ``resolution`` resizes by area averaging (:func:`resize`).
    """
    root = Path(root)
    if labels not in ("object", "category"):
        raise DataError(f"CORe50: labels must be 'object' or 'category', got {labels!r}")
    if min(train_stride, test_stride) < 1:
        raise DataError("CORe50: strides must be >= 1")
    if not root.is_dir():
        raise DataError(f"CORe50 folder {root} does not exist")
    if (root / NPZ).is_file():
        batches, test, read = _npz_form(root, run)
    elif (root / PNG_DIR).is_dir():
        batches, test, read = _png_form(root, run)
    else:
        raise DataError(f"CORe50 folder {root}: neither {NPZ} nor {PNG_DIR}/ found")
    batches = [b[::train_stride] for b in batches]
    test = test[::test_stride]
    train = [item for b in batches for item in b]
    bounds = np.cumsum([0] + [len(b) for b in batches])
    exps = tuple(np.arange(bounds[i], bounds[i + 1], dtype=np.int64) for i in range(len(batches)))
    x_train, x_test = _read_resized(read, train, resolution), _read_resized(read, test, resolution)
    obj_train = np.array([lab for _, lab, _ in train], dtype=np.int64)
    y_test = np.array([lab for _, lab, _ in test], dtype=np.int64)
    sess = np.array([_session_of(path) for path, _, _ in train], dtype=np.int64)
    div, n_classes = (1, 50) if labels == "object" else (5, 10)
    return Scenario(f"core50-nicv2_391-run{run}-{labels}", x_train, obj_train // div, exps, x_test,
                    y_test // div, n_classes, obj_train=obj_train, session_train=sess)


# --------------------------------------------------------------------------------------------------
# The NumPy form
# --------------------------------------------------------------------------------------------------

def _npz_form(root: Path, run: int):
    """Batch lists of ``(path, label, index)`` from LUP.pkl/labels.pkl, and a reader of core50_imgs.npz."""
    paths = _pickle(root / PATHS)
    lup, lab = _pickle(root / LUP), _pickle(root / LABELS)
    try:
        lists, labs = lup[SCENARIO_KEY][run], lab[SCENARIO_KEY][run]
    except (KeyError, IndexError, TypeError):
        raise DataError(f"{root / LUP}: no batch lists for scenario {SCENARIO_KEY!r}, run {run}") from None
    if len(lists) < 2 or len(lists) != len(labs) or any(len(a) != len(b) for a, b in zip(lists, labs)):
        raise DataError(f"{root / LABELS}: its lists do not match those of {LUP} (scenario "
                        f"{SCENARIO_KEY!r}, run {run})")
    x = _npz_array(root / NPZ)
    if x.ndim != 4 or x.shape[1:] != (SIDE, SIDE, 3) or x.dtype != np.uint8 or len(x) != len(paths):
        raise DataError(f"{root / NPZ}: array x is {x.dtype}{list(x.shape)}, expected uint8"
                        f"[{len(paths)}, {SIDE}, {SIDE}, 3] (one image per entry of {PATHS})")
    bad = [int(i) for lst in lists for i in lst if not 0 <= int(i) < len(paths)]
    if bad:
        raise DataError(f"{root / LUP}: image index {bad[0]} out of range 0..{len(paths) - 1}")
    items = [[(str(paths[i]), int(y), int(i)) for i, y in zip(a, b)] for a, b in zip(lists, labs)]
    return items[:-1], items[-1], lambda sel: np.asarray(x[np.array([i for _, _, i in sel], dtype=np.int64)])


def _pickle(path: Path):
    if not path.is_file():
        raise DataError(f"CORe50 folder {path.parent}: missing {path.name}")
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except Exception as e:  # a truncated or foreign file: report it, whatever pickle raised
        raise DataError(f"{path}: not a readable pickle ({type(e).__name__}: {e})") from None


def _npz_array(path: Path, name: str = "x") -> np.ndarray:
    """Array ``name`` of an .npz archive, memory-mapped if stored uncompressed (the 8 GB CORe50 array
    then costs only the images read), else decompressed into memory."""
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo(name + ".npy")
    except KeyError:
        raise DataError(f"{path}: no array named {name!r}") from None
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{path}: not a readable .npz archive ({e})") from None
    if info.compress_type != zipfile.ZIP_STORED:
        with np.load(path) as npz:
            return npz[name]
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)                           # ZIP local file header: name and extra lengths
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        version = np.lib.format.read_magic(f)
        header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                  else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = header(f)
        offset = f.tell()
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran else "C")


# --------------------------------------------------------------------------------------------------
# The PNG form
# --------------------------------------------------------------------------------------------------

def _png_form(root: Path, run: int):
    """Batch lists of ``(path, label, -1)`` from the NIC_v2_391 file lists, and a PNG reader."""
    folder = root / LIST_DIR / f"run{run}"
    first = folder / "train_batch_00_filelist.txt"
    if not first.is_file():
        raise DataError(f"CORe50 folder {root}: missing {first.relative_to(root)}")
    batches = []
    while (folder / f"train_batch_{len(batches):02d}_filelist.txt").is_file():
        batches.append(_filelist(folder / f"train_batch_{len(batches):02d}_filelist.txt"))
    if (folder / f"train_batch_{len(batches) + 1:02d}_filelist.txt").is_file():
        raise DataError(f"CORe50 folder {root}: missing "
                        f"{(folder / f'train_batch_{len(batches):02d}_filelist.txt').relative_to(root)}")
    test = folder / "test_filelist.txt"
    if not test.is_file():
        raise DataError(f"CORe50 folder {root}: missing {test.relative_to(root)}")
    images = root / PNG_DIR
    return batches, _filelist(test), lambda sel: _read_pngs([images / p for p, _, _ in sel])


def _filelist(path: Path) -> list[tuple[str, int, int]]:
    """``(path, label, -1)`` per line of a CORe50 batch list."""
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not _PATH_RE.match(parts[0]) or not parts[1].isdigit():
            raise DataError(f"{path}:{n}: expected '<sN/oM/name.png> <label>', got {line.strip()!r}")
        out.append((parts[0], int(parts[1]), -1))
    return out


def _read_pngs(files: list[Path]) -> np.ndarray:
    from PIL import Image  # decodes the PNG tree of the CORe50 release

    x = np.zeros((len(files), SIDE, SIDE, 3), np.uint8)
    for i, f in enumerate(files):
        try:
            with Image.open(f) as im:
                a = np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            raise DataError(f"CORe50: missing image {f}") from None
        except OSError as e:
            raise DataError(f"CORe50: unreadable image {f} ({e})") from None
        if a.shape != (SIDE, SIDE, 3):
            raise DataError(f"CORe50: image {f} is {a.shape[1]}x{a.shape[0]}, expected {SIDE}x{SIDE}")
        x[i] = a
    return x


# --------------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------------

def _session_of(path: str) -> int:
    """0-based session of an image from its path ``[prefix/]sN/oM/name``."""
    m = _SESSION_RE.search(path)
    if not m:
        raise DataError(f"CORe50: image path {path!r} is not of the form sN/oM/name.png")
    return int(m.group(1)) - 1


def _read_resized(read, items: list, size: int, chunk: int = 1024) -> np.ndarray:
    """The images of ``items`` at ``size x size``, read and resized ``chunk`` at a time (the 120k
    training images of CORe50 take 5.9 GB at 128 x 128, 369 MB at 32 x 32)."""
    if not 1 <= size <= SIDE:
        raise DataError(f"CORe50: resolution must be in 1..{SIDE}, got {size}")
    out = np.empty((len(items), size, size, 3), np.uint8)
    for s in range(0, len(items), chunk):
        out[s:s + chunk] = resize(read(items[s:s + chunk]), size)
    return out


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """Resize ``(N, H, W, C)`` uint8 square images to ``size x size`` by area averaging (each output
    pixel is the mean of the input area it covers, fractional pixels weighted), rounded to uint8."""
    n, h, w, c = x.shape
    if h != w:
        raise DataError(f"resize: images must be square, got {h}x{w}")
    if size == h:
        return x
    if not 1 <= size <= h:
        raise DataError(f"resize: size must be in 1..{h}, got {size}")
    edges = np.arange(size + 1) * (h / size)
    lo, hi = edges[:-1, None], edges[1:, None]
    j = np.arange(h)[None, :]
    a = (np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0, None) * (size / h)).astype(np.float32)
    out = np.empty((n, size, size, c), np.uint8)
    for s in range(0, n, 512):
        y = np.einsum("ih,nhwc,jw->nijc", a, x[s:s + 512].astype(np.float32), a, optimize=True)
        out[s:s + 512] = np.floor(y + 0.5).clip(0, 255)
    return out
