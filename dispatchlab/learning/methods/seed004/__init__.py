"""seed004: topology-anchored dynamic GCN + MASRL on ``transmission-dispatch``
(docs/methods/seed004.md). The stable API is :mod:`.method`'s :class:`Seed004Trainer`."""

from dispatchlab.learning.methods.seed004.config import Seed004Config

__all__ = ["Seed004Config"]
