"""Replay sampling TorchRL lacks here: stratified + newest-share (seed001's hybrid replay).

:class:`StratifiedRecentSampler` is a TorchRL ``Sampler``: a batch draws ``recent_share`` of
its transitions uniformly from the ``recent_window`` newest ones and the rest stratified — a
stratum (e.g. seed001's hour of day, 24 strata) is chosen uniformly among the non-empty ones,
then a transition uniformly within it — so rare strata are replayed as often as common ones.
:class:`StratifiedReplayBuffer` is a ``TensorDictReplayBuffer`` over a ``LazyTensorStorage``
that reads each transition's stratum from ``data[stratum_key]`` when it is stored (TorchRL's
buffer hands samplers only indices, so the buffer passes the strata on).

seed001's Table 3 gives the fusion as an initial ratio 0.99 with decay 0.5; the method sets
``sampler.recent_share`` on its own schedule (its docstring states the reading). Why a
subclass and not ``PrioritizedSampler``: TorchRL's compiled segment trees do not load with torch
2.13 (docs/design/learning.md), and stratification is not a priority anyway.
"""

from __future__ import annotations

from typing import Any

import torch
from tensordict import TensorDictBase
from tensordict.utils import NestedKey
from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer
from torchrl.data.replay_buffers.samplers import Sampler


class StratifiedRecentSampler(Sampler):
    """Stratified uniform sampling fused with a share of the newest transitions."""

    def __init__(
        self, capacity: int, n_strata: int, recent_share: float = 0.0, recent_window: int = 1_000
    ):
        if capacity < 1 or n_strata < 1 or recent_window < 1:
            raise ValueError("capacity, n_strata and recent_window must be positive integers")
        super().__init__()
        self.capacity, self.n_strata, self.recent_window = capacity, n_strata, recent_window
        self.recent_share = recent_share
        self._empty()

    @property
    def recent_share(self) -> float:
        """Share of each batch drawn from the newest ``recent_window`` transitions."""
        return self._recent_share

    @recent_share.setter
    def recent_share(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"recent_share must be in [0, 1], got {value}")
        self._recent_share = float(value)

    def _empty(self) -> None:
        self._stratum = torch.full((self.capacity,), -1, dtype=torch.long)
        self._stamp = torch.full((self.capacity,), -1, dtype=torch.long)  # write order
        self._written = 0

    def check(self, strata: torch.Tensor) -> torch.Tensor:
        """Strata as a long vector; one outside 0…n_strata−1 is an error naming it."""
        strata = torch.as_tensor(strata)
        strata = strata.reshape(strata.shape[0] if strata.ndim else 1, -1)[:, 0].long()
        bad = torch.nonzero((strata < 0) | (strata >= self.n_strata)).squeeze(-1)
        if len(bad):
            raise ValueError(
                f"stratum {int(strata[bad[0]])} outside 0…{self.n_strata - 1} "
                f"(transition {int(bad[0])} of the batch being stored)"
            )
        return strata

    def record(self, index: torch.Tensor, strata: torch.Tensor) -> None:
        """Note the stratum and write order of the transitions just stored at ``index``."""
        index = torch.as_tensor(index).reshape(-1)
        self._stratum[index] = self.check(strata)
        self._stamp[index] = self._written + torch.arange(len(index))
        self._written += len(index)

    def sample(self, storage: Any, batch_size: int) -> tuple[torch.Tensor, dict]:
        filled = torch.nonzero(self._stamp >= 0).squeeze(-1)
        if len(filled) == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        n_recent = round(self.recent_share * batch_size)
        newest = filled[self._stamp[filled] >= self._written - self.recent_window]
        recent = newest[torch.randint(len(newest), (n_recent,))]
        strata = self._stratum[filled]
        order = torch.argsort(strata, stable=True)
        counts = torch.bincount(strata, minlength=self.n_strata)
        starts = torch.cumsum(counts, 0) - counts
        present = torch.nonzero(counts).squeeze(-1)
        pick = present[torch.randint(len(present), (batch_size - n_recent,))]
        offset = (torch.rand(len(pick)) * counts[pick]).long()
        stratified = filled[order[starts[pick] + offset]]
        return torch.cat([recent, stratified]), {}

    def state_dict(self) -> dict[str, Any]:
        return {"stratum": self._stratum, "stamp": self._stamp, "written": self._written}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._stratum = state_dict["stratum"].clone()
        self._stamp = state_dict["stamp"].clone()
        self._written = int(state_dict["written"])

    def dumps(self, path) -> None:  # the project saves no replay content (checkpoints: weights)
        raise NotImplementedError("replay contents are not checkpointed")

    def loads(self, path) -> None:
        raise NotImplementedError("replay contents are not checkpointed")


class StratifiedReplayBuffer(TensorDictReplayBuffer):
    """A TensorDict replay whose sampler is :class:`StratifiedRecentSampler`."""

    def __init__(
        self,
        capacity: int,
        batch_size: int,
        n_strata: int,
        stratum_key: NestedKey = "stratum",
        **sampler_options: Any,
    ):
        self.stratum_key = stratum_key
        super().__init__(
            storage=LazyTensorStorage(capacity),
            sampler=StratifiedRecentSampler(capacity, n_strata, **sampler_options),
            batch_size=batch_size,
        )

    def add(self, data: TensorDictBase) -> int:
        strata = self.sampler.check(data.get(self.stratum_key).reshape(1, -1))  # before storing
        index = super().add(data)
        self.sampler.record(torch.as_tensor(index), strata)
        return index

    def extend(self, tensordicts: TensorDictBase, **kwargs: Any) -> torch.Tensor:
        strata = self.sampler.check(tensordicts.get(self.stratum_key))
        index = super().extend(tensordicts, **kwargs)
        self.sampler.record(index, strata)
        return index
