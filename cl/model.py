"""MobileNet-V1 as a list of layer descriptions, split at a latent-replay layer.

The network is the one of Howard et al., "MobileNets" (arXiv 1704.04861, Table 1), as used by
the Latent Replay / AR1* code (Pellegrini et al., IROS 2020): a 3x3 convolution, thirteen
depthwise-separable blocks (depthwise 3x3 + pointwise 1x1), a global average pool and a
classifier without bias.  Every convolution is followed by BatchNorm and ReLU.  Layers are
indexed as in that code (``latent_layer_num``): 0 = conv1, 1 = conv2_1/dw, 2 = conv2_1/sep, ...,
26 = conv6/sep, 27 = pool6, 28 = fc.  The latent-replay (LR) layer is the *last frozen* layer; its
output (after BN and ReLU, so >= 0) is what the replay memory stores.

Tensors are NCHW float arrays (float32, or float64 when given float64 for gradient checks).
Weights: conv ``W[K, C, 3, 3]``, depthwise ``W[C, 3, 3]``, pointwise and fc ``W[K, C]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from pulpsim.errors import ConfigError

#: (name, stride, output channels at width 1.0) of the 13 depthwise-separable blocks.
_BLOCKS = (
    ("conv2_1", 1, 64), ("conv2_2", 2, 128), ("conv3_1", 1, 128), ("conv3_2", 2, 256),
    ("conv4_1", 1, 256), ("conv4_2", 2, 512), ("conv5_1", 1, 512), ("conv5_2", 1, 512),
    ("conv5_3", 1, 512), ("conv5_4", 1, 512), ("conv5_5", 1, 512), ("conv5_6", 2, 1024),
    ("conv6", 1, 1024),
)

#: Layer kinds that carry weights, BatchNorm (or its folded bias) and a ReLU.
CONV_KINDS = ("conv", "dw", "pw")


@dataclass(frozen=True)
class Layer:
    """One layer of the network.

    ``in_shape``/``out_shape`` are ``(C, H, W)`` of one sample (the pool and fc layers have
    ``H = W = 1`` on their output; fc also on its input).  ``params`` counts weights only (no BN
    parameters, no bias), ``macs`` the multiply-accumulates of one forward sample (depthwise counts
    its padding taps: ``9 * C * Ho * Wo``).
    """

    index: int
    name: str
    kind: str          # "conv" | "dw" | "pw" | "pool" | "fc"
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    stride: int
    params: int
    macs: int

    @property
    def out_elems(self) -> int:
        """Elements of one sample's output activation."""
        c, h, w = self.out_shape
        return c * h * w

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """Shape of the weight tensor (``()`` for the pool)."""
        cin, cout = self.in_shape[0], self.out_shape[0]
        return {"conv": (cout, cin, 3, 3), "dw": (cin, 3, 3), "pw": (cout, cin),
                "fc": (cout, cin), "pool": ()}[self.kind]


def _conv_out(h: int, stride: int) -> int:
    """Output size of a 3x3 convolution with padding 1."""
    return (h + 2 - 3) // stride + 1


def _channels(c: int, width: float) -> int:
    """Channels at width multiplier ``width``: ``int(c * width)`` (Keras and pytorchcv convention)."""
    return max(1, int(c * width))


def mobilenet_v1(width: float = 1.0, resolution: int = 128, num_classes: int = 50) -> tuple[Layer, ...]:
    """The layer list of MobileNet-V1 at width multiplier ``width`` and a square RGB input.

    ``resolution`` must be a positive multiple of 32 (five stride-2 layers halve it down to
    ``resolution / 32`` before the global pool).  Raises :class:`ConfigError` on bad values.
    """
    if not (isinstance(width, (int, float)) and 0 < width <= 4):
        raise ConfigError(f"width multiplier must be in (0, 4], got {width!r}")
    if not (isinstance(resolution, int) and resolution >= 32 and resolution % 32 == 0):
        raise ConfigError(f"resolution must be a positive multiple of 32, got {resolution!r}")
    if not (isinstance(num_classes, int) and num_classes >= 2):
        raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    layers: list[Layer] = []

    def add(name, kind, cin, h, cout, stride):
        ho = _conv_out(h, stride) if kind in ("conv", "dw") else (1 if kind in ("pool", "fc") else h)
        params = {"conv": cout * cin * 9, "dw": cin * 9, "pw": cout * cin, "fc": cout * cin, "pool": 0}[kind]
        per_out = {"conv": cin * 9, "dw": 9, "pw": cin, "fc": cin, "pool": 0}[kind]
        hin = 1 if kind == "fc" else h
        layers.append(Layer(len(layers), name, kind, (cin, hin, hin), (cout, ho, ho), stride,
                            params, per_out * cout * ho * ho))
        return cout, ho

    c, h = add("conv1", "conv", 3, resolution, _channels(32, width), 2)
    for name, stride, cout in _BLOCKS:
        c, h = add(f"{name}/dw", "dw", c, h, c, stride)
        c, h = add(f"{name}/sep", "pw", c, h, _channels(cout, width), 1)
    c, h = add("pool6", "pool", c, h, c, 1)
    add("fc", "fc", c, 1, num_classes, 1)
    return tuple(layers)


def lr_candidates(layers) -> tuple[int, ...]:
    """Indices allowed as LR layer: every depthwise layer (its output follows BN and ReLU) and the pool."""
    return tuple(l.index for l in layers if l.kind in ("dw", "pool"))


def check_lr_layer(layers, lr_index) -> int:
    """Return ``lr_index`` as an int if it names an allowed LR layer, else raise :class:`ConfigError`."""
    allowed = lr_candidates(layers)
    if isinstance(lr_index, bool) or not isinstance(lr_index, int) or lr_index not in allowed:
        names = ", ".join(f"{i} ({layers[i].name})" for i in allowed)
        raise ConfigError(f"unknown LR layer {lr_index!r}: choose a depthwise layer or the pool, one of {names}")
    return lr_index


def split(layers, lr_index: int) -> tuple[tuple[Layer, ...], tuple[Layer, ...]]:
    """``(frozen, adaptive)``: layers ``0..lr_index`` and ``lr_index+1..`` (the LR layer is frozen)."""
    check_lr_layer(layers, lr_index)
    return tuple(layers[:lr_index + 1]), tuple(layers[lr_index + 1:])


def lr_shape(layers, lr_index: int) -> tuple[int, int, int]:
    """``(C, H, W)`` of one latent replay: the output of the LR layer."""
    return layers[check_lr_layer(layers, lr_index)].out_shape


def total_macs(layers) -> int:
    """Forward MACs of one sample through ``layers``."""
    return sum(l.macs for l in layers)


def total_params(layers) -> int:
    """Weights of ``layers`` (BN parameters and biases excluded, as in the MobileNet paper's counts)."""
    return sum(l.params for l in layers)


def train_macs(adaptive) -> int:
    """MACs of one training sample through the adaptive stage: forward, weight gradient and input
    gradient of every layer with weights, except that the first adaptive layer needs no input
    gradient (nothing below it learns).  Each gradient costs as many MACs as the forward."""
    macs = 0
    for pos, l in enumerate(adaptive):
        macs += l.macs                        # forward
        macs += l.macs if l.params else 0     # weight gradient
        macs += l.macs if pos > 0 else 0      # input gradient
    return macs
