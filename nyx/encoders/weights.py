"""Reading small weight files (safetensors with a JSON ``nyx`` metadata entry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["read_weights"]


def read_weights(path: Path, required: tuple[str, ...] | set[str], what: str,
                 error: type[Exception] = ValueError) -> tuple[dict[str, np.ndarray],
                                                               dict[str, Any]]:
    """The tensors and ``nyx`` metadata of a safetensors file; a file that cannot be read or
    lacks a ``required`` tensor raises ``error`` naming ``what`` and the file."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
            meta = json.loads((f.metadata() or {}).get("nyx", "{}"))
    except Exception as exc:  # safetensors raises its own error types
        raise error(f"cannot read {what} {path}: {exc}") from exc
    missing = set(required) - tensors.keys()
    if missing:
        raise error(f"{what} {path} lacks tensors {sorted(missing)}")
    return tensors, meta
