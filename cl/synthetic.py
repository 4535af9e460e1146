"""A synthetic, generated stand-in for CORe50: procedurally rendered objects seen over sessions.

This data set is **synthetic**: no photograph is involved and nothing is downloaded. It copies CORe50's
*structure* (Lomonaco and Maltoni, CoRL 2017): categories of objects, several objects per category, every
object filmed in 11 sessions (8 for training, 3 for testing: sessions 3, 7 and 10, counted from 1), a
short sequence of frames per (object, session), and per-session nuisances. It does not pretend to copy
CORe50's images.

How an image is made (all parameters drawn with :func:`numpy.random.default_rng` from a seed):

* a **category** fixes a shape (a radial outline ``r(phi) = 1 + sum_k Re(c_k e^{ik phi})``, harmonics
  2 to 6), a surface pattern (stripes, checks, rings or sectors, at a frequency and orientation fixed in
  the object's frame), a two-colour palette and a shading profile;
* an **object** of that category jitters all of these (outline coefficients, pattern frequency and phase,
  hues, aspect ratio): objects of one category look alike without being equal;
* a **session** fixes the background (a coloured low-frequency field plus clutter), the lighting (gain,
  colour cast, a shading gradient), the distance (object scale), how the object is held (an occluding
  "hand" of skin colour, its size and side) and the sensor noise;
* a **frame** moves along the session's trajectory: in-plane rotation, out-of-plane rotation seen as
  foreshortening, drift of the position and of the scale, a small camera shake of the background.

Parameters and pixels are computed with additions, multiplications, divisions, square roots, ``floor``
and comparisons only (IEEE-754 correctly rounded operations; no ``sin``/``exp``/``atan2`` from a maths
library whose last bit may differ between CPUs), from the PCG64 streams of ``Generator.random``,
``integers`` and ``choice``, so the same seed gives the same bytes. Every (object, session) pair and every category draws from its own
:class:`numpy.random.SeedSequence` stream, so the images do not depend on how many objects or sessions are
generated beside them, nor on the rendering chunk size.

The pretraining set (:func:`pretraining_images`) draws its categories and sessions from streams disjoint
from the continual-learning ones, so the frozen stage is trained on classes it will never be tested on.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from pulpsim.errors import ConfigError

from .scenario import Scenario, nicv2_order

#: Stream tags of the :class:`numpy.random.SeedSequence` keys (domain separation).
_CATEGORY, _OBJECT, _SESSION, _TRACK = 1, 2, 3, 4
#: Category and session ids of the pretraining set start here, far above any continual-learning id.
PRETRAIN_ID_BASE = 1_000_000
#: Harmonics of the outline; pattern kinds.
_HARMONICS = (2, 3, 4, 5, 6)
_PATTERNS = ("stripes", "checks", "rings", "sectors")

#: The kinds of session nuisance, each scaled by its own :class:`SyntheticSpec` field.
NUISANCE_KINDS = ("background", "lighting", "distance", "occlusion", "noise", "pose")

#: CORe50's test sessions (s3, s7 and s10), 0-based.
CORE50_TEST_SESSIONS = (2, 6, 9)


@dataclass(frozen=True)
class SyntheticSpec:
    """Size, seed and difficulty of a generated data set (defaults: CORe50's 10 categories x 5 objects x
    11 sessions, with 16 frames per (object, session) instead of ~300, at 32 x 32 pixels)."""

    n_categories: int = 10
    objects_per_category: int = 5
    n_sessions: int = 11
    test_sessions: tuple[int, ...] = CORE50_TEST_SESSIONS
    frames: int = 16
    resolution: int = 32
    seed: int = 0
    #: Strength of all session nuisances at once: 0 shows every object upright, facing the camera, on a
    #: plain grey background under neutral light, at one distance, unoccluded and noiseless; 1 is the
    #: default; up to 2.
    nuisance: float = 1.0
    #: Per-kind factors, multiplied by ``nuisance`` (each 1.0 is the full range of its draws): the
    #: background (colour, clutter, camera shake), the lighting (gain, colour cast, gradient), the
    #: distance (object scale), the occluding hand, the sensor noise, and the pose (in-plane and
    #: out-of-plane rotation along a session). The defaults keep every kind but mute those that a
    #: frozen stage of this size, pretrained for two epochs, could not learn to ignore: with the
    #: background or the lighting at full range even joint training stayed near chance (docs/cl.md).
    background: float = 0.2
    lighting: float = 0.2
    distance: float = 0.5
    occlusion: float = 0.5
    noise: float = 0.5
    pose: float = 1.0
    #: Id of the first category and session (PRETRAIN_ID_BASE for the pretraining set).
    id_base: int = 0

    def __post_init__(self):
        for name in ("n_categories", "objects_per_category", "n_sessions", "frames"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"synthetic data: {name} must be >= 1, got {getattr(self, name)}")
        if not 8 <= int(self.resolution) <= 512:
            raise ConfigError(f"synthetic data: resolution must be in 8..512, got {self.resolution}")
        for name in ("nuisance",) + NUISANCE_KINDS:
            if not 0.0 <= float(getattr(self, name)) <= 2.0:
                raise ConfigError(f"synthetic data: {name} must be in 0..2, got {getattr(self, name)}")
        bad = [s for s in self.test_sessions if not 0 <= s < self.n_sessions]
        if bad or len(set(self.test_sessions)) >= self.n_sessions:
            raise ConfigError(f"synthetic data: test sessions {self.test_sessions} must be distinct, "
                              f"in 0..{self.n_sessions - 1}, and leave a training session")

    @property
    def n_objects(self) -> int:
        return self.n_categories * self.objects_per_category

    @property
    def train_sessions(self) -> tuple[int, ...]:
        return tuple(s for s in range(self.n_sessions) if s not in self.test_sessions)


@dataclass(frozen=True, eq=False)
class ObjectImages:
    """Images with CORe50-style identity columns, one row per image.

    ``x`` is ``(N, R, R, 3)`` uint8 RGB (height, width, channel, as CORe50's ``core50_imgs.npz``);
    ``category``, ``obj``, ``session`` and ``frame`` are ``(N,)`` int64. Objects are numbered
    ``0 .. n_objects-1`` with ``category == obj // objects_per_category`` (CORe50: ``label // 5``).
    """

    x: np.ndarray
    category: np.ndarray
    obj: np.ndarray
    session: np.ndarray
    frame: np.ndarray
    spec: SyntheticSpec = field(repr=False)

    def select(self, mask: np.ndarray) -> "ObjectImages":
        """The rows where ``mask`` is true (or the rows at the given indices)."""
        return replace(self, x=self.x[mask], category=self.category[mask], obj=self.obj[mask],
                       session=self.session[mask], frame=self.frame[mask])


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *key]))


def _u(rng: np.random.Generator, lo: float, hi: float, size=None):
    """Uniform in [lo, hi) from ``Generator.random`` (bit-stable across numpy versions)."""
    return lo + (hi - lo) * rng.random(size)


def _hue_rgb(h: float, sat: float, val: float) -> np.ndarray:
    """RGB of a hue in [0, 1) (piecewise-linear HSV colour wheel)."""
    k = (np.array([5.0, 3.0, 1.0]) + h * 6.0) % 6.0
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return val * (1.0 - sat * ramp)


# --------------------------------------------------------------------------------------------------
# Parameters: category -> object -> (object, session) track; session
# --------------------------------------------------------------------------------------------------

def _category_params(seed: int, cid: int) -> dict:
    r = _rng(seed, _CATEGORY, cid)
    coef = np.zeros(len(_HARMONICS), np.complex128)
    for j in r.choice(len(_HARMONICS), size=2, replace=False):          # two dominant harmonics
        coef[j] = _u(r, 0.10, 0.30) * _unit(r.random())
    return {
        "coef": coef,
        "aspect": _u(r, 0.55, 1.0),
        "pattern": np.eye(len(_PATTERNS))[int(r.integers(len(_PATTERNS)))],
        "freq": _u(r, 1.0, 3.0),                    # pattern periods per object radius
        "orient": r.random(),
        "sectors": float(r.integers(3, 9)),
        "hue": r.random(),
        "hue2": _u(r, 0.2, 0.8),                    # hue offset of the second colour
        "contrast": _u(r, 0.35, 1.0),
        "dome": _u(r, 0.0, 0.5),                    # darkening towards the rim
    }


def _object_params(seed: int, cid: int, k: int, cat: dict) -> dict:
    r = _rng(seed, _OBJECT, cid, k)
    coef = cat["coef"] + 0.06 * (r.random(len(_HARMONICS)) - 0.5) * _unit(r.random(len(_HARMONICS)))
    hue = (cat["hue"] + _u(r, -0.12, 0.12)) % 1.0
    c1 = _hue_rgb(hue, _u(r, 0.4, 0.95), _u(r, 0.55, 1.0))
    c2 = _hue_rgb((hue + cat["hue2"] + _u(r, -0.1, 0.1)) % 1.0, _u(r, 0.2, 0.9), _u(r, 0.25, 0.9))
    return {
        "coef": coef,
        "aspect": np.clip(cat["aspect"] * _u(r, 0.85, 1.15), 0.45, 1.0),
        "freq": cat["freq"] * _u(r, 0.8, 1.25),
        "orient": cat["orient"] + _u(r, -0.06, 0.06),
        "phase": r.random(),
        "c1": c1, "c2": c2,
        "size": _u(r, 0.85, 1.15),
    }


def _session_params(spec: "SyntheticSpec", sid: int) -> dict:
    r = _rng(spec.seed, _SESSION, sid)
    p = {
        "bg": _hue_rgb(r.random(), _u(r, 0.0, 0.6), _u(r, 0.25, 0.9)),
        "bg_cols": np.stack([_hue_rgb(r.random(), _u(r, 0.0, 0.8), 1.0) for _ in range(2)]),
        "bg_amp": _u(r, 0.05, 0.35, 2),
        "bg_freq": np.array([_u(r, 0.3, 1.2), _u(r, 2.0, 6.0)]),  # periods per image
        "bg_dir": r.random(2),
        "gain": _u(r, 0.55, 1.25),
        "cast": _u(r, 0.8, 1.2, 3),
        "light_dir": r.random(),
        "light_amp": _u(r, 0.0, 0.45),
        "scale": _u(r, 0.42, 0.72),                  # object radius / half image width
        "hand_amp": float(r.random() < 0.8) * _u(r, 0.35, 0.75),   # hand size / object radius
        "hand_side": r.random(),
        "skin": np.array([0.87, 0.66, 0.52]) * _u(r, 0.7, 1.1) * _u(r, 0.9, 1.1, 3),
        "noise": _u(r, 0.01, 0.05),
        "spin": _u(r, 0.25, 1.0) * (1 if r.random() < 0.5 else -1),     # turns per session
        "tilt": _u(r, 0.1, 0.5),                     # out-of-plane turns per session
    }
    # the draws above do not depend on the strengths: scaling them keeps the sessions' character
    k = {kind: float(spec.nuisance) * float(getattr(spec, kind)) for kind in NUISANCE_KINDS}
    grey = np.full(3, 0.5)
    p["bg"] = grey + (p["bg"] - grey) * min(k["background"], 1.0)
    for key, kind in (("bg_amp", "background"), ("light_amp", "lighting"), ("hand_amp", "occlusion"),
                      ("noise", "noise")):
        p[key] = p[key] * k[kind]
    for key, mid, kind in (("gain", 1.0, "lighting"), ("cast", 1.0, "lighting"), ("scale", 0.57, "distance")):
        p[key] = mid + (p[key] - mid) * k[kind]
    p["shake"] = 0.02 * k["background"]
    p["pose"] = k["pose"]
    return p


def _frame_params(seed: int, cid: int, k: int, sid: int, frames: int, sess: dict) -> dict:
    """Per-frame pose along the (object, session) track (vectors of length ``frames``)."""
    r = _rng(seed, _TRACK, cid, k, sid)
    t = np.arange(frames) / max(frames, 1)
    drift = _u(r, -0.15, 0.15, 4)
    return {
        "rot": sess["pose"] * (r.random() + sess["spin"] * t),
        "yaw": sess["pose"] * (r.random() + sess["tilt"] * t),
        "cx": drift[0] + drift[1] * t + _u(r, -0.03, 0.03, frames),
        "cy": drift[2] + drift[3] * t + _u(r, -0.03, 0.03, frames),
        "scale": sess["scale"] * (1.0 + _u(r, -0.12, 0.12) * t) * _u(r, 0.95, 1.05, frames),
        "shake": sess["shake"] * _u(r, -1.0, 1.0, (frames, 2)),
        "hand": _u(r, -0.25, 0.25, frames) + sess["hand_side"],
    }


# --------------------------------------------------------------------------------------------------
# Parameter table: one row per image, column-wise
# --------------------------------------------------------------------------------------------------

def _wave(x):
    """A cosine-shaped wave of period 1 in [-1, 1] (smoothed triangle), from floor and polynomials only."""
    tri = 4.0 * np.abs(x - np.floor(x) - 0.5) - 1.0
    return tri * (1.5 - 0.5 * tri * tri)


def _unit(turns) -> np.ndarray:
    """A unit complex number per angle (in turns), built from :func:`_wave` and a square root (no libm;
    parts assigned, not computed by complex arithmetic, whose SIMD loops may fuse operations)."""
    t = np.asarray(turns, dtype=np.float64)
    c, s = _wave(t), _wave(t - 0.25)
    n = np.sqrt(c * c + s * s)
    out = np.empty(t.shape, np.complex64)
    out.real, out.imag = c / n, s / n
    return out


def _track(spec: SyntheticSpec, cid: int, k: int, sid: int, cat: dict, obj: dict, sess: dict) -> dict:
    """Parameter columns of the ``spec.frames`` images of one object in one session."""
    n = spec.frames
    fr = _frame_params(spec.seed, cid, k, sid, n, sess)

    def rep(v):
        return np.repeat(np.asarray(v)[None], n, axis=0)

    return {
        "cx": fr["cx"], "cy": fr["cy"], "scale": fr["scale"] * obj["size"],
        "fore": 0.35 + 0.65 * np.abs(_wave(fr["yaw"])), "aspect": rep(obj["aspect"]),
        "rot": _unit(fr["rot"]), "coef": rep(obj["coef"]),
        "ori": rep(_unit(obj["orient"])), "freq": rep(obj["freq"]), "phase": rep(obj["phase"]),
        "pattern": rep(cat["pattern"]), "sectors": rep(cat["sectors"]), "c1": rep(obj["c1"]),
        "c2": rep(obj["c2"]), "contrast": rep(cat["contrast"]), "dome": rep(cat["dome"]),
        "bg": rep(sess["bg"]), "bg_cols": rep(sess["bg_cols"]), "bg_amp": rep(sess["bg_amp"]),
        "bg_freq": rep(sess["bg_freq"]), "bg_d": rep(_unit(sess["bg_dir"])), "shake": fr["shake"],
        "hand": _unit(fr["hand"]), "hand_amp": rep(sess["hand_amp"]), "skin": rep(sess["skin"]),
        "light": rep(_unit(sess["light_dir"])), "light_amp": rep(sess["light_amp"]),
        "gain": rep(sess["gain"]), "cast": rep(sess["cast"]), "noise": rep(sess["noise"]),
    }


# --------------------------------------------------------------------------------------------------
# Rendering (vectorised over images; exact IEEE operations only)
# --------------------------------------------------------------------------------------------------

def _ramp(d):
    """Coverage of a pixel by an edge at signed distance ``d`` pixels (linear anti-aliasing)."""
    return np.clip(d + np.float32(0.5), np.float32(0.0), np.float32(1.0))


def _render(p: dict, noise: np.ndarray, res: int) -> np.ndarray:
    """Render one image per row of the parameter columns ``p``; returns ``(n, res, res, 3)`` uint8."""
    f32 = np.float32
    q = {k: (v.astype(np.complex64) if np.iscomplexobj(v) else v.astype(f32)) for k, v in p.items()}
    n = len(q["cx"])
    g = (np.arange(res, dtype=f32) + f32(0.5)) * f32(2.0 / res) - f32(1.0)
    X, Y = g[None, None, :], g[None, :, None]

    def col(key, j=None):
        v = q[key] if j is None else q[key][:, j]
        return v[:, None, None]

    # object frame: translate, rotate, scale, foreshorten; then the radial outline
    rot, scale = col("rot"), col("scale")
    dx, dy = X - col("cx"), Y - col("cy")
    u = (dx * rot.real + dy * rot.imag) / (scale * col("fore"))
    v = (dy * rot.real - dx * rot.imag) / (scale * col("aspect"))
    rho = np.sqrt(u * u + v * v) + f32(1e-6)
    # z = e^{i phi} and its powers as real and imaginary parts, one ufunc per operation: no complex
    # arithmetic, whose SIMD loops may fuse a multiply and an add differently on another CPU
    zr, zi = u / rho, v / rho
    kr, ki = zr * zr - zi * zi, f32(2.0) * zr * zi          # z**2
    outline = np.ones_like(rho)
    sectors = np.zeros_like(rho)
    n_sect = col("sectors")
    for k in range(2, 9):
        if k in _HARMONICS:                                  # Re(c_k z**k)
            c = col("coef", _HARMONICS.index(k))
            outline += c.real * kr - c.imag * ki
        sectors += np.where(n_sect == k, kr, f32(0.0))
        kr, ki = kr * zr - ki * zi, kr * zi + ki * zr
    cover = _ramp((outline - rho) * scale * f32(res / 2))

    # surface pattern, fixed in the object frame
    ori, freq, phase = col("ori"), col("freq"), col("phase")
    a = (u * ori.real + v * ori.imag) * freq + phase
    b = (v * ori.real - u * ori.imag) * freq
    t = (col("pattern", 0) * _wave(a) + col("pattern", 1) * _wave(a) * _wave(b)
         + col("pattern", 2) * _wave(rho * freq + phase) + col("pattern", 3) * sectors)
    mix = np.clip(f32(0.5) + f32(0.8) * t, f32(0.0), f32(1.0))[..., None]
    c1, c2 = q["c1"][:, None, None, :], q["c2"][:, None, None, :]
    c2 = c1 + (c2 - c1) * col("contrast")[..., None]
    shade = f32(1.0) - col("dome") * np.minimum(rho, f32(1.0)) ** 2
    surface = (c1 + (c2 - c1) * mix) * shade[..., None]

    # background: a base colour, a slow field and clutter, with camera shake
    bx, by = X + col("shake", 0), Y + col("shake", 1)
    img = np.broadcast_to(q["bg"][:, None, None, :], (n, res, res, 3)).astype(f32)
    for j in range(2):
        d = col("bg_d", j)
        phase_j = (bx * d.real + by * d.imag) * col("bg_freq", j)
        img = img + (_wave(phase_j) * col("bg_amp", j))[..., None] * q["bg_cols"][:, j, None, None, :]
    img = img + (surface - img) * cover[..., None]

    # the hand: an ellipse of skin colour on the object's rim, in front of it
    hd, hamp = col("hand"), col("hand_amp")
    hx, hy = col("cx") + f32(0.9) * scale * hd.real, col("cy") + f32(0.9) * scale * hd.imag
    hq = np.sqrt((X - hx) ** 2 + (f32(1.6) * (Y - hy)) ** 2)
    hand = _ramp((scale * hamp - hq) * f32(res / 2)) * (hamp > 0)
    img = img + (q["skin"][:, None, None, :] - img) * hand[..., None]

    # lighting (gain, colour cast, a linear gradient) and sensor noise
    ld = col("light")
    light = col("gain") * (f32(1.0) + col("light_amp") * (X * ld.real + Y * ld.imag))
    img = img * light[..., None] * q["cast"][:, None, None, :] + noise * col("noise")[..., None]
    return np.floor(np.clip(img, f32(0.0), f32(1.0)) * f32(255.0) + f32(0.5)).astype(np.uint8)


# --------------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------------

_NOISE = 5


def generate(spec: SyntheticSpec = SyntheticSpec(), *, chunk: int = 256) -> ObjectImages:
    """Render every (session, object, frame) of ``spec``, session-major as CORe50's ``paths.pkl``
    (session, then object, then frame). ``chunk`` bounds the images rendered at once (memory only:
    the bytes do not depend on it)."""
    cats = [_category_params(spec.seed, spec.id_base + c) for c in range(spec.n_categories)]
    objs = [[_object_params(spec.seed, spec.id_base + c, k, cats[c]) for k in range(spec.objects_per_category)]
            for c in range(spec.n_categories)]
    sess = [_session_params(spec, spec.id_base + s) for s in range(spec.n_sessions)]
    tracks = [(s, c, k) for s in range(spec.n_sessions) for c in range(spec.n_categories)
              for k in range(spec.objects_per_category)]
    res, per = spec.resolution, max(1, chunk // spec.frames)
    out = np.empty((len(tracks) * spec.frames, res, res, 3), np.uint8)
    for start in range(0, len(tracks), per):
        group = tracks[start:start + per]
        cols = [_track(spec, spec.id_base + c, k, spec.id_base + s, cats[c], objs[c][k], sess[s])
                for s, c, k in group]
        p = {key: np.concatenate([t[key] for t in cols]) for key in cols[0]}
        noise = np.concatenate([_noise(spec, spec.id_base + c, k, spec.id_base + s) for s, c, k in group])
        out[start * spec.frames:(start + len(group)) * spec.frames] = _render(p, noise, res)
    t = np.asarray(tracks, dtype=np.int64)
    session = np.repeat(t[:, 0], spec.frames)
    obj = np.repeat(t[:, 1] * spec.objects_per_category + t[:, 2], spec.frames)
    frame = np.tile(np.arange(spec.frames, dtype=np.int64), len(tracks))
    return ObjectImages(x=out, category=obj // spec.objects_per_category, obj=obj, session=session,
                        frame=frame, spec=spec)


def _noise(spec: SyntheticSpec, cid: int, k: int, sid: int) -> np.ndarray:
    """Zero-mean, unit-variance uniform sensor noise of one track, ``(frames, R, R, 3)`` float32."""
    r = _rng(spec.seed, _NOISE, cid, k, sid)
    shape = (spec.frames, spec.resolution, spec.resolution, 3)
    return ((r.random(shape, dtype=np.float32) - np.float32(0.5)) * np.float32(np.sqrt(12.0)))


def pretraining_images(spec: SyntheticSpec = SyntheticSpec(), *, n_categories: int = 20,
                       objects_per_category: int = 3, n_sessions: int = 8, frames: int | None = None,
                       chunk: int = 256) -> ObjectImages:
    """Images of ``n_categories`` categories disjoint from ``spec``'s (other category, object and session
    streams: none of them is a continual-learning category, object or background), at ``spec``'s
    resolution and seed, for pretraining the frozen stage. All sessions are returned (no test split)."""
    pre = replace(spec, n_categories=n_categories, objects_per_category=objects_per_category,
                  n_sessions=n_sessions, test_sessions=(), frames=frames or spec.frames,
                  id_base=PRETRAIN_ID_BASE)
    return generate(pre, chunk=chunk)


def scenario(spec: SyntheticSpec = SyntheticSpec(), *, labels: str = "category", order_seed: int | None = None,
             units_per_experience: int = 1) -> Scenario:
    """The default continual-learning scenario: ``spec``'s images, trained on its training sessions in a
    NICv2-like order (:func:`pulpsim.cl.scenario.nicv2_order`, seeded by ``order_seed``, default
    ``spec.seed``), tested on its test sessions. ``labels`` is ``"category"`` (``spec.n_categories``
    classes) or ``"object"`` (``spec.n_objects`` classes, CORe50's 50-way object level)."""
    if labels not in ("category", "object"):
        raise ConfigError(f"synthetic data: labels must be 'category' or 'object', got {labels!r}")
    data = generate(spec)
    test = np.isin(data.session, spec.test_sessions)
    tr, te = data.select(~test), data.select(test)
    y_tr, y_te = (tr.category, te.category) if labels == "category" else (tr.obj, te.obj)
    exps = nicv2_order(tr.obj, tr.session, tr.category, units_per_experience=units_per_experience,
                       seed=spec.seed if order_seed is None else order_seed)
    return Scenario(f"synthetic-{labels}", tr.x, y_tr, exps, te.x, y_te,
                    spec.n_categories if labels == "category" else spec.n_objects,
                    obj_train=tr.obj, session_train=tr.session)
