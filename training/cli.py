"""``nyx-train CONFIG.yaml``: contrastive training, the NyxQA data pipeline, feedback training.

    nyx-train training/configs/lite-projection.yaml
    nyx-train run.yaml --set optim.max_steps=20 --set output_dir=runs/quick
    nyx-train run.yaml --stage nyxqa
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from nyx.training.config import TrainConfig

logger = logging.getLogger("nyx.training")


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``["optim.lr=1e-4", "loss.matryoshka_dims=[512,256]"]`` -> a nested mapping."""
    tree: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE (dotted keys), got {pair!r}")
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(raw)
    return tree


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(path: str, overrides: Sequence[str] = (), stage: str | None = None) -> TrainConfig:
    base = TrainConfig.from_yaml(path).to_dict()
    extra = parse_overrides(overrides)
    if stage:
        extra["stage"] = stage
    return TrainConfig.from_dict(merge(base, extra))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="nyx-train", description=__doc__.split("\n")[0])
    parser.add_argument("config", help="a YAML run config (see training/configs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a config value (dotted key)")
    parser.add_argument("--stage", choices=["contrastive", "nyxqa", "feedback"],
                        help="run this stage instead of the config's")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Everything this tool loads ships inside packages or lives on disk.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        config = load_config(args.config, args.overrides, args.stage)
    except (OSError, ValueError, TypeError) as exc:
        parser.error(str(exc))
    from nyx.training import distributed, runs

    try:
        summary = _run_stage(config, runs)
    except BaseException:
        distributed.shutdown(wait=False)
        raise
    if distributed.is_main_process():  # under torchrun, one summary, from rank 0
        print(json.dumps(summary, indent=2, default=str))
    distributed.shutdown()
    return 0


def _run_stage(config: TrainConfig, runs: Any) -> Any:
    if config.stage == "contrastive":
        result = runs.run_contrastive(config)
        summary: Any = {"steps": result.state.step, "first_loss": result.losses[:1],
                        "last_loss": result.losses[-1:], "exported": str(result.exported)}
    elif config.stage == "nyxqa":
        summary = runs.run_nyxqa(config)
    else:
        summary = runs.run_feedback(config)
    return summary


if __name__ == "__main__":
    sys.exit(main())
