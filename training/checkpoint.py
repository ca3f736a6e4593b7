"""Training checkpoints: trained weights, optimizer, scheduler, position in the data and RNGs.

A checkpoint is a folder ``step-000123/`` holding ``trainable.safetensors``, ``optimizer.pt``
(optimizer and scheduler state), ``rng.pt`` and ``state.json``. It is written under a temporary
name and renamed, so a crash never leaves a half-written checkpoint that resume would pick up.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nyx.training.embedders.base import TrainableEmbedder

logger = logging.getLogger(__name__)

PREFIX = "step-"


@dataclass
class TrainerState:
    """Where training stands: optimizer steps done and micro-batches consumed in this epoch."""

    step: int = 0
    epoch: int = 0
    micro: int = 0
    examples: int = 0


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG's state in plain types and tensors, so ``torch.load(weights_only=True)``
    reads it back (no pickled numpy objects: loading a checkpoint never runs code)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {"python": random.getstate(),
                             "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                       int(has_gauss), float(cached)],
                             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos,
                         has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(root: str | Path, embedder: TrainableEmbedder,
                    optimizer: torch.optim.Optimizer, scheduler: Any, state: TrainerState,
                    keep: int = 2) -> Path:
    """Write ``root/step-NNNNNN`` atomically and keep only the newest ``keep`` checkpoints."""
    from safetensors.torch import save_file

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{state.step:06d}"
    tmp = root / f".{final.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.contiguous() for k, v in embedder.trainable_state().items()},
              str(tmp / "trainable.safetensors"))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               tmp / "optimizer.pt")
    torch.save(rng_state(), tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps(asdict(state), indent=2))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    for old in list_checkpoints(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    logger.info("saved checkpoint %s", final)
    return final


def list_checkpoints(root: str | Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)
             and (p / "state.json").is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX):]))


def latest_checkpoint(root: str | Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def _load_safely(file: Path) -> Any:
    """``torch.load`` of tensors and plain values only: a checkpoint someone hands you cannot
    run code when it is resumed."""
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"{file} holds objects other than tensors and plain values, so it is "
                         "not loaded (that could run code). Checkpoints written before this "
                         "release store the numpy RNG that way: start from trainable.safetensors "
                         "instead of resuming") from exc


def load_checkpoint(folder: str | Path, embedder: TrainableEmbedder,
                    optimizer: torch.optim.Optimizer, scheduler: Any) -> TrainerState:
    """Restore everything ``save_checkpoint`` wrote; returns the trainer state to continue from."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / "state.json").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint (no state.json); checkpoints are "
                                f"the {PREFIX}N folders under <output_dir>/checkpoints")
    embedder.load_trainable_state(load_file(str(folder / "trainable.safetensors")))
    opt = _load_safely(folder / "optimizer.pt")
    optimizer.load_state_dict(opt["optimizer"])
    scheduler.load_state_dict(opt["scheduler"])
    set_rng_state(_load_safely(folder / "rng.pt"))
    state = TrainerState(**json.loads((folder / "state.json").read_text()))
    logger.info("resumed from %s (step %d, epoch %d)", folder, state.step, state.epoch)
    return state
