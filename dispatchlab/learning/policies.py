"""Trained policies from checkpoints: the checkpoint's header names its method, which loads it.

A loader is ``load(path, env_name) -> policy`` where ``policy(env, observations) -> actions`` is
what :func:`dispatchlab.learning.evaluate.evaluate` plays; each method registers its loader in
:data:`dispatchlab.learning.methods.METHODS`. Loading goes through
:mod:`dispatchlab.learning.checkpoint` (no pickle), so an untrusted file cannot run code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dispatchlab.learning.checkpoint import CheckpointError, load_checkpoint
from dispatchlab.learning.methods import METHODS, resolve


def load_policy(path: str | Path, env: str) -> Any:
    """The policy stored in checkpoint ``path``, for environment ``env``."""
    header, _ = load_checkpoint(path)
    method = header.get("method")
    if method not in METHODS and str(method).partition("-")[0] in METHODS:
        method = str(method).partition("-")[0]  # a method's counterpart ("seed001-ddpg")
    if method not in METHODS:
        raise CheckpointError(
            f"{path}: method '{method}' has no policy loader; known: {sorted(METHODS)}"
        )
    return resolve(METHODS[method].load_policy)(path, env)
