"""seed001: information-fusion MADDPG with hybrid replay and coach data on ``voltage-control``
(Dou et al. 2025). docs/methods/seed001.md."""

from dispatchlab.learning.methods.seed001.config import Seed001Config

__all__ = ["Seed001Config"]
