"""``nyx-train CONFIG.yaml``: contrastive training, the NyxQA data pipeline, feedback training.

    nyx-train training/configs/lite-projection-openclipart.yaml
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

from nyx.training.config import load_train_config

logger = logging.getLogger("nyx.training")


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
        config = load_train_config(args.config, args.overrides, args.stage)
    except (OSError, ValueError, TypeError) as exc:
        parser.error(str(exc))
    from nyx.training import distributed, runs

    try:
        summary = runs.run_stage(config)
    except BaseException:
        distributed.shutdown(wait=False)
        raise
    if distributed.is_main_process():  # under torchrun, one summary, from rank 0
        print(json.dumps(summary, indent=2, default=str))
    distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
