"""One ``seed`` reaching every RNG: numpy Generators and torch."""

from __future__ import annotations

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed torch (when imported) and return the numpy Generator every method should draw from."""
    import torch

    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def child_rngs(seed: int, n: int) -> list[np.random.Generator]:
    """``n`` independent Generators derived from one seed (scenario workers, vector envs)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(n)]
