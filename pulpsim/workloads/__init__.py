"""Workload drivers of the training kernels: the numpy golden model, the matmul and layer-kernel runners, the
tile planner and the tiled-layer executor's host side, and the tiling sweeps (``pulpsim kernel``, ``pulpsim tiling``).
"""
