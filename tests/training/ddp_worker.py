"""One process of a ``torchrun`` training run (tests/training/test_torchrun.py).

    torchrun --standalone --nproc_per_node 2 tests/training/ddp_worker.py CONFIG OUT [KEY=VALUE...]

Trains with ``nyx.training.runs.run_contrastive`` like ``nyx-train`` does, then writes the sha256 of
this process's trainable weights, before and after training, to ``OUT/weights-rank<N>.json``:
the processes must end with identical weights.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch


def digest(parameters: list[torch.Tensor]) -> str:
    h = hashlib.sha256()
    for p in parameters:
        h.update(p.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str]) -> None:
    from nyx.training import distributed, runs
    from nyx.training.checkpoint import seed_everything
    from nyx.training.config import load_train_config
    from nyx.training.embedders import build_embedder

    config_path, out, *overrides = argv
    config = load_train_config(config_path, [*overrides, f"output_dir={out}"])
    seed_everything(config.seed)  # as run_contrastive does before it builds the model
    embedder = build_embedder(config)
    before = digest(embedder.trainable_parameters())
    try:
        runs.run_contrastive(config, embedder=embedder)
    except BaseException:
        distributed.shutdown(wait=False)
        raise
    record = {"rank": distributed.rank(), "world_size": distributed.world_size(),
              "before": before, "after": digest(embedder.trainable_parameters())}
    (Path(out) / f"weights-rank{record['rank']}.json").write_text(json.dumps(record))
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1:])
