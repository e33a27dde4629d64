"""Trained policies from checkpoints: the checkpoint's header names its method, which loads it.

A loader is ``load(path, env_name) -> policy`` where ``policy(env, observations) -> actions`` is
what :func:`dispatchlab.learning.evaluate.evaluate` plays. Loading goes through
:mod:`dispatchlab.learning.checkpoint` (no pickle), so an untrusted file cannot run code.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

from dispatchlab.learning.checkpoint import CheckpointError, load_checkpoint

#: checkpoint method name -> "module:function" that rebuilds a policy from the file
POLICY_LOADERS: dict[str, str] = {
    "seed000": "dispatchlab.learning.methods.seed000.method:policy_from_checkpoint",
}


def load_policy(path: str | Path, env: str) -> Any:
    """The policy stored in checkpoint ``path``, for environment ``env``."""
    header, _ = load_checkpoint(path)
    method = header.get("method")
    if method not in POLICY_LOADERS:
        raise CheckpointError(
            f"{path}: method '{method}' has no policy loader; known: {sorted(POLICY_LOADERS)}"
        )
    module, attr = POLICY_LOADERS[method].split(":")
    return getattr(import_module(module), attr)(path, env)
