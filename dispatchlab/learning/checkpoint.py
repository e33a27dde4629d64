"""Checkpoints that load without executing code: one ``.npz`` of arrays plus a JSON header.

A checkpoint holds the method's name, its ``Config`` (as a JSON dict), named float/int arrays
(torch state dicts are converted to numpy), training metrics and provenance (dispatchlab
version, case hash). ``numpy.load(allow_pickle=False)`` refuses object arrays, so a crafted file
cannot run code; the header is parsed with ``json``. We do not use ``torch.save``/``pickle`` for
this reason, and sklearn estimators are stored as their fitted arrays, not pickled.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

_HEADER = "__header__"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """The file is not a dispatchlab checkpoint, or not for the method asked for."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """No file at the checkpoint path (a CheckpointError and a FileNotFoundError)."""


def save_checkpoint(
    path: str | Path,
    method: str,
    config: Any,
    arrays: Mapping[str, np.ndarray],
    metrics: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``arrays`` and a JSON header (method, config, metrics, meta) to ``path`` (.npz)."""
    from dispatchlab import __version__

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    header = {
        "format": FORMAT_VERSION,
        "method": method,
        "config": cfg,
        "metrics": dict(metrics or {}),
        "meta": {"dispatchlab_version": __version__, **dict(meta or {})},
    }
    payload = {k: _as_array(k, v) for k, v in arrays.items()}
    if _HEADER in payload:
        raise CheckpointError(f"array name '{_HEADER}' is reserved")
    payload[_HEADER] = np.frombuffer(json.dumps(header, default=_json_default).encode(), np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **payload)
    return path


def load_checkpoint(path: str | Path, method: str | None = None) -> tuple[dict, dict]:
    """Return ``(header, arrays)``; ``method`` checks that the file belongs to that method."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointNotFoundError(
            f"checkpoint {path} does not exist (write one with a `train` or `reduce fit` command)"
        )
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):  # a bare .npy array
            raise ValueError("a single array, not an .npz archive")
        with data:
            arrays = {k: data[k] for k in data.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as err:
        # numpy says "pickled" both for object arrays inside an .npz and for any file that is
        # neither .npz nor .npy (a text file too); only the first holds pickled objects for sure
        msg = str(err) if isinstance(err, ValueError) else ""
        if "Object arrays" in msg:
            kind = "it holds pickled objects, never loaded"
        elif "pickle" in msg:
            kind = "neither .npz nor .npy: a pickle or another format, never unpickled"
        else:
            kind = "truncated, or not .npz"
        raise CheckpointError(
            f"{path}: not a dispatchlab checkpoint ({kind}; {type(err).__name__}: {err})"
        ) from err
    if _HEADER not in arrays:
        raise CheckpointError(f"{path}: no '{_HEADER}' entry; not a dispatchlab checkpoint")
    try:
        header = json.loads(arrays.pop(_HEADER).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: the '{_HEADER}' entry is not JSON ({err})") from err
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the '{_HEADER}' entry is not a JSON object")
    if header.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {header.get('format')} is not supported")
    if method is not None and header.get("method") != method:
        raise CheckpointError(
            f"{path}: checkpoint is for method '{header.get('method')}', not '{method}'"
        )
    return header, arrays


def config_from(cls: type, header: Mapping[str, Any]) -> Any:
    """Rebuild a ``Config`` dataclass from a header, rejecting unknown fields by name."""
    data = dict(header["config"])
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise CheckpointError(f"checkpoint config has fields {unknown} that {cls.__name__} lacks")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def torch_state_arrays(prefix: str, state_dict: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A torch ``state_dict`` as numpy arrays named ``prefix/<key>``."""
    return {f"{prefix}/{k}": v.detach().cpu().numpy() for k, v in state_dict.items()}


def torch_state_from(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The inverse of :func:`torch_state_arrays`: tensors for ``module.load_state_dict``."""
    import torch

    start = f"{prefix}/"
    return {
        k[len(start) :]: torch.from_numpy(v.copy())
        for k, v in arrays.items()
        if k.startswith(start)
    }


def _as_array(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object:
        raise CheckpointError(f"array '{name}' has dtype object; store numbers or strings only")
    return arr


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} in a checkpoint header")
