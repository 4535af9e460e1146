"""Continual learning with quantized latent replays (installed as ``pulpsim.cl``).

A MobileNet-V1 is split at a latent-replay (LR) layer into a frozen stage, run in int8
after post-training quantization, and an adaptive stage trained in FP32. The frozen
stage's outputs (the LRs) are kept in a replay memory of configurable precision.

Modules: ``model`` (the layer list and its split at the LR layer), ``nn`` (numpy forward and
backward passes on mini-batches), ``quant`` (post-training int8 quantization of the frozen
stage, bit-exact integer reference), ``replay`` (the LR memory: bit-packed UINT-Q or FP32
storage and the AR1* buffer update), ``memory`` (byte accounting of LRs, labels and weights),
``pretrain`` (deterministic host pretraining of the network, cached on disk), ``protocol`` (AR1*-style
latent replay with naive and joint baselines, on a replaceable training-step backend), ``onchip``
(learning events of the adaptive stage on the simulated cluster, checked against the host), ``cost``
(cycles, L3 traffic, energy and battery lifetime of a learning event; the paper-scale cost), ``compare``
(the precision and LR-layer sweeps over seeds), and the data:
``synthetic``, ``scenario``, ``core50``.
"""
