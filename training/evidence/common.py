"""What the evidence scripts share: arguments, offline set-up, the SQuAD file, results files."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
CACHE = Path.home() / ".cache" / "nyx" / "training"
#: where SQuAD v1.1 dev lies relative to a data folder ($NYX_DATA_DIR) or the data set cache, as
#: nyx.benchmarks.datasets.sources declares it (a test checks the two agree)
SQUAD_RELATIVE = "squad/dev-v1.1.json"


def squad_candidates() -> list[Path]:
    """$NYX_DATA_DIR's copy, then the data set cache's ($NYX_CACHE/datasets or ~/.cache/nyx)."""
    found = []
    if os.environ.get("NYX_DATA_DIR"):
        found.append(Path(os.environ["NYX_DATA_DIR"]).expanduser() / SQUAD_RELATIVE)
    cache = os.environ.get("NYX_CACHE")
    root = Path(cache).expanduser() if cache else Path.home() / ".cache" / "nyx"
    return [*found, root / "datasets" / SQUAD_RELATIVE]


def evidence_parser(doc: str | None, name: str) -> argparse.ArgumentParser:
    """``--out`` (work folder), ``--threads`` and ``--results`` (the JSON of numbers)."""
    parser = argparse.ArgumentParser(description=(doc or name).split("\n")[0])
    parser.add_argument("--out", type=Path, default=CACHE / name)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS / f"{name}.json")
    return parser


def start(args: argparse.Namespace) -> None:
    """Log to stderr, never reach a model hub, use ``--threads`` CPU threads."""
    import torch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    torch.set_num_threads(args.threads)


def find_squad(path: Path | None) -> Path:
    found = path or next((p for p in squad_candidates() if p.is_file()), None)
    if found is None or not found.is_file():
        raise SystemExit(f"SQuAD v1.1 dev JSON not found: pass --squad PATH or set NYX_DATA_DIR "
                         f"to a folder holding {SQUAD_RELATIVE} (or fetch it into the cache "
                         "once with nyx.benchmarks.datasets.load_dataset('squad-dev'))")
    return found


def write_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
