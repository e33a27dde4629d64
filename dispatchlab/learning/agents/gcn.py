"""Graph convolution (Kipf & Welling 2017) over a power network's bus graph.

``H' = Â H W`` with ``Â = D̃^{-1/2}(A + I)D̃^{-1/2}``: adjacency with self-loops and symmetric
degree normalization. :func:`normalized_adjacency` builds Â from a Case's in-service branches
(bus order of the Case); :class:`GraphConv` is one layer. seed000's price GCN stacks two; any
method that reads a feeder as a graph (seed004's DGCN) can reuse them.

Why not PyTorch Geometric: our graphs are one fixed feeder (33–123 buses), so a dense Â matmul
is both the fastest form on CPU and one line; PyG would add a compiled dependency for nothing.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def normalized_adjacency(case) -> np.ndarray:
    """Â = D̃^{-1/2}(A + I)D̃^{-1/2} over the in-service branches, Case bus order."""
    pos = {b: i for i, b in enumerate(case.buses.index)}
    n = len(pos)
    a = np.eye(n)
    br = case.branches[case.branches["in_service"]]
    for f, t in zip(br["from_bus"], br["to_bus"], strict=True):
        a[pos[f], pos[t]] = a[pos[t], pos[f]] = 1.0
    d = 1.0 / np.sqrt(a.sum(axis=1))
    return a * d[:, None] * d[None, :]


class GraphConv(nn.Linear):
    """One graph convolution ``Â X W + b`` (no activation); ``x`` is (..., bus, features).

    A subclass of :class:`torch.nn.Linear` so that its state dict is the linear map's
    (``weight``, ``bias``): W is applied first, then Â, which is the same product."""

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return adj @ super().forward(x)


__all__ = ["GraphConv", "normalized_adjacency"]
