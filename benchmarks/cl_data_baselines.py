"""How hard is the synthetic continual-learning scenario? Numpy baselines on its data.

Prints, for the default synthetic data (``pulpsim.cl.synthetic``):

* the generation time;
* nearest class mean and softmax regression on raw pixels (train sessions -> test sessions);
* the same on the features of a frozen random convolutional stage (5x5 convolutions, ReLU, 4x4 average
  pooling; a stand-in for a frozen feature extractor), trained jointly on all training sessions;
* a proxy of the latent-replay precision: the softmax trained on those (non-negative) features stored
  as the LR memory stores them (``pulpsim.cl.replay``: uint8 codes with a static scale, reduced to Q
  bits), tested on the 8-bit codes of the test features;
* naive sequential fine-tuning of a small MLP (one hidden layer, on those features) over the NICv2-like
  experiences, against the same MLP trained jointly on all data seen so far: the gap is the forgetting
  the continual-learning methods must close.

Usage: ``python benchmarks/cl_data_baselines.py [--labels category|object] [--seed S] [--nuisance X]
[--full-nuisances]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pulpsim.cl import synthetic
from pulpsim.cl.replay import LatentReplayMemory


def standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Zero mean, unit variance per feature, with the training statistics."""
    mu, sd = train.mean(0), train.std(0) + 1e-3
    return [(a - mu) / sd for a in (train, *others)]


def nearest_class_mean(xtr, ytr, xte, n_classes) -> np.ndarray:
    means = np.stack([xtr[ytr == c].mean(0) if np.any(ytr == c) else np.full(xtr.shape[1], np.inf)
                      for c in range(n_classes)])
    d = (xte ** 2).sum(1)[:, None] - 2 * xte @ means.T + (means ** 2).sum(1)[None]
    return np.argmin(d, 1)


class Softmax:
    """Multinomial logistic regression trained by mini-batch SGD with momentum and weight decay."""

    def __init__(self, n_in: int, n_classes: int, lr=0.01, momentum=0.9, wd=5e-4, seed=0):
        self.w = np.zeros((n_in, n_classes), np.float32)
        self.b = np.zeros(n_classes, np.float32)
        self.vw, self.vb = np.zeros_like(self.w), np.zeros_like(self.b)
        self.lr, self.mom, self.wd = lr, momentum, wd
        self.rng = np.random.default_rng(seed)

    def fit(self, x, y, epochs: int, batch: int = 32):
        for _ in range(epochs):
            perm = self.rng.permutation(len(x))
            for i in range(0, len(x), batch):
                idx = perm[i:i + batch]
                z = x[idx] @ self.w + self.b
                p = np.exp(z - z.max(1, keepdims=True))
                p /= p.sum(1, keepdims=True)
                p[np.arange(len(idx)), y[idx]] -= 1
                gw = x[idx].T @ p / len(idx) + self.wd * self.w
                self.vw = self.mom * self.vw - self.lr * gw
                self.vb = self.mom * self.vb - self.lr * p.mean(0)
                self.w += self.vw
                self.b += self.vb
        return self

    def accuracy(self, x, y) -> float:
        return float(((x @ self.w + self.b).argmax(1) == y).mean())


class MLP(Softmax):
    """One hidden ReLU layer then softmax, trained like :class:`Softmax`."""

    def __init__(self, n_in: int, n_classes: int, hidden=128, lr=0.003, momentum=0.9, wd=5e-4, seed=0):
        super().__init__(n_in, n_classes, lr, momentum, wd, seed)
        self.p = [(self.rng.standard_normal((n_in, hidden)) * np.sqrt(2 / n_in)).astype(np.float32),
                  np.zeros(hidden, np.float32),
                  (self.rng.standard_normal((hidden, n_classes)) * np.sqrt(1 / hidden)).astype(np.float32),
                  np.zeros(n_classes, np.float32)]
        self.v = [np.zeros_like(a) for a in self.p]

    def logits(self, x):
        h = np.maximum(x @ self.p[0] + self.p[1], 0)
        return h, h @ self.p[2] + self.p[3]

    def fit(self, x, y, epochs: int, batch: int = 32):
        w1, b1, w2, b2 = self.p
        for _ in range(epochs):
            perm = self.rng.permutation(len(x))
            for i in range(0, len(x), batch):
                idx = perm[i:i + batch]
                h, z = self.logits(x[idx])
                p = np.exp(z - z.max(1, keepdims=True))
                p /= p.sum(1, keepdims=True)
                p[np.arange(len(idx)), y[idx]] -= 1
                p /= len(idx)
                dh = (p @ w2.T) * (h > 0)
                grads = (x[idx].T @ dh, dh.sum(0), h.T @ p, p.sum(0))
                for k, (a, g) in enumerate(zip(self.p, grads)):
                    self.v[k] = self.mom * self.v[k] - self.lr * (g + self.wd * a)
                    a += self.v[k]
        return self

    def accuracy(self, x, y) -> float:
        return float((self.logits(x)[1].argmax(1) == y).mean())


def random_conv_features(x: np.ndarray, n_filters=64, k=5, pool=4, seed=0, chunk=256) -> np.ndarray:
    """Features of a frozen random stage: ``k x k`` convolution (same padding), ReLU, ``pool x pool``
    average pooling over a grid; ``(N, n_filters * pool * pool)`` float32."""
    rng = np.random.default_rng(seed)
    n, h, w, c = x.shape
    filt = (rng.random((k * k * c, n_filters), dtype=np.float32) - 0.5)
    filt -= filt.mean(0)
    out = []
    for s in range(0, n, chunk):
        xs = np.pad(x[s:s + chunk].astype(np.float32) / 255, ((0, 0), (k // 2,) * 2, (k // 2,) * 2, (0, 0)))
        cols = np.lib.stride_tricks.sliding_window_view(xs, (k, k), axis=(1, 2))  # (n, h, w, c, k, k)
        cols = cols.transpose(0, 1, 2, 4, 5, 3).reshape(len(xs), h, w, k * k * c)
        f = np.maximum(cols @ filt, 0)
        f = f.reshape(len(xs), pool, h // pool, pool, w // pool, n_filters).mean((2, 4))
        out.append(f.reshape(len(xs), -1))
    return np.concatenate(out)


def stored(features: np.ndarray, precision, scale: float) -> np.ndarray:
    """``features`` after a round trip through an LR memory of ``precision`` ("fp32" or Q bits)."""
    mem = LatentReplayMemory(len(features), (features.shape[1], 1, 1), precision, scale)
    return mem.decode(mem.encode(features[:, :, None, None])).reshape(features.shape)


def precision_sweep(f_tr, f_te, y_tr, y_te, n_classes) -> None:
    """Test accuracy of the softmax trained on features stored at each precision."""
    scale = float(np.percentile(f_tr, 99.99)) / 255                  # a static, calibrated scale
    test = stored(f_te, 8, scale)
    row = []
    for precision in ("fp32", 8, 6, 4, 3, 2, 1):
        train = stored(f_tr, precision, scale) if precision != "fp32" else f_tr
        a, b = standardise(train, test if precision != "fp32" else f_te)
        sm = Softmax(a.shape[1], n_classes, lr=0.002).fit(a, y_tr, epochs=10)
        row.append(f"{precision if precision == 'fp32' else f'UINT{precision}'} {sm.accuracy(b, y_te):.3f}")
    print("softmax on features stored at each LR precision: " + ", ".join(row))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", default="category", choices=("category", "object"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nuisance", type=float, default=1.0)
    ap.add_argument("--full-nuisances", action="store_true",
                    help="every kind of nuisance at its full range (1.0) instead of the defaults")
    ap.add_argument("--epochs", type=int, default=4, help="epochs per experience (AR1*: 4)")
    a = ap.parse_args(argv)

    kinds = {k: 1.0 for k in synthetic.NUISANCE_KINDS} if a.full_nuisances else {}
    spec = synthetic.SyntheticSpec(seed=a.seed, nuisance=a.nuisance, **kinds)
    t0 = time.perf_counter()
    synthetic.generate(spec)
    print(f"generation: {spec.n_objects * spec.n_sessions * spec.frames} images {spec.resolution}x{spec.resolution} in {time.perf_counter() - t0:.2f} s")
    sc = synthetic.scenario(spec, labels=a.labels)
    C = sc.n_classes
    print(f"scenario {sc.name}: {len(sc.x_train)} train, {len(sc.x_test)} test, {C} classes, "
          f"{sc.n_experiences} experiences (first: {len(sc.experiences[0])} samples)")

    raw_tr, raw_te = standardise(sc.x_train.reshape(len(sc.x_train), -1).astype(np.float32),
                                 sc.x_test.reshape(len(sc.x_test), -1).astype(np.float32))
    t0 = time.perf_counter()
    f_tr, f_te = standardise(random_conv_features(sc.x_train), random_conv_features(sc.x_test))
    print(f"random-conv features: {f_tr.shape[1]} per image in {time.perf_counter() - t0:.1f} s")
    for name, xtr, xte in (("raw pixels", raw_tr, raw_te), ("random-conv features", f_tr, f_te)):
        ncm = float((nearest_class_mean(xtr, sc.y_train, xte, C) == sc.y_test).mean())
        sm = Softmax(xtr.shape[1], C, lr=0.002).fit(xtr, sc.y_train, epochs=10)
        print(f"{name:>21}: nearest class mean {ncm:.3f}; softmax train {sm.accuracy(xtr, sc.y_train):.3f}"
              f" test {sm.accuracy(xte, sc.y_test):.3f}  (chance {1 / C:.3f})")

    precision_sweep(*(random_conv_features(x) for x in (sc.x_train, sc.x_test)), sc.y_train, sc.y_test, C)

    # naive sequential fine-tuning vs joint training, MLP on the random-conv features
    g_tr, g_te = f_tr, f_te
    naive = MLP(g_tr.shape[1], C)
    checkpoints = (sc.n_experiences // 2, sc.n_experiences - 1)
    t0 = time.perf_counter()
    for i in range(sc.n_experiences):
        idx = sc.experiences[i]
        naive.fit(g_tr[idx], sc.y_train[idx], epochs=a.epochs)
        if i in checkpoints:
            seen = sc.seen(i)
            joint = MLP(g_tr.shape[1], C, lr=0.01).fit(g_tr[seen], sc.y_train[seen], epochs=12)
            print(f"MLP after experience {i:3d}: naive {naive.accuracy(g_te, sc.y_test):.3f}, "
                  f"joint on all seen data {joint.accuracy(g_te, sc.y_test):.3f}")
    print(f"stream: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
