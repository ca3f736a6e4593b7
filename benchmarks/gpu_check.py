"""The CUDA paths on a GPU: VLM embedder congruence, 3B-scale embedding speed, LoRA training steps.

    python -m nyx.benchmarks.gpu_check --squad ../shared/data/squad/dev-v1.1.json --out reports/gpu

1. ``congruence``: a tiny random Qwen2-VL and Qwen2.5-VL embed the same queries and documents
   (text, image, interleaved) through ``VLMEncoder`` on CPU fp32, CUDA fp32 and CUDA bf16.
2. ``faiss``: whether faiss sees the GPU, and if it does, GPU flat search against CPU flat search.
3. ``throughput``: ``VLMEncoder`` on a randomly initialised model with Qwen2.5-VL-3B-Instruct's
   published shape (3.75B parameters) in bf16: questions, paragraphs and 448-px images per second.
4. ``training``: ``nyx-train`` with the shipped recipe ``training/configs/qwen2.5-vl-3b-lora.yaml``
   (LoRA r=16 on the language model, gradient checkpointing, bf16, batch 32 + 32 hard negatives,
   Matryoshka 2048/1024/512/256) on that model for a few steps; then a resumed run, and the
   exported adapter loaded back through ``VLMEncoder(..., adapter=..., dim=1024)``.

No checkpoint can be fetched on an offline GPU machine, so the 3B model is random and its
tokenizer is a byte-level BPE (32k) trained here on the SQuAD text: speed and memory are those of
the real architecture, retrieval quality is not measured. ``--shape small`` runs every step with a
small model (for trying the script on a CPU). Each section's result is written to
``<out>/gpu_check.json`` as soon as it finishes, so a crash keeps what came before.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nyx.benchmarks.gpu.encoders import (
    section_clip,
    section_congruence,
    section_environment,
    section_faiss,
    section_profile,
    section_throughput,
)
from nyx.benchmarks.gpu.index import section_index
from nyx.benchmarks.gpu.models import QWEN25_VL_3B, SMALL, build_processor, squad_rows
from nyx.benchmarks.gpu.training import section_training

logger = logging.getLogger("nyx.benchmarks.gpu_check")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, required=True, help="SQuAD v1.1 dev JSON")
    parser.add_argument("--out", type=Path, default=Path("reports/gpu"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/nyx-gpu-check"))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--shape", choices=["3b", "small"], default="3b")
    parser.add_argument("--n-text", type=int, default=512)
    parser.add_argument("--n-images", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sections", default="environment,congruence,faiss,throughput,training")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)

    rows = squad_rows(args.squad)
    text = list(dict.fromkeys(r["context"] for r in rows)) + [r["question"] for r in rows]
    state: dict[str, Any] = {"rows": rows, "shape": QWEN25_VL_3B if args.shape == "3b" else SMALL}
    state["processor"] = build_processor(text, 32000 if args.shape == "3b" else 4096)
    results: dict[str, Any] = {"command": "python -m nyx.benchmarks.gpu_check " + " ".join(
        argv if argv is not None else sys.argv[1:]), "shape": args.shape}
    sections: dict[str, Callable[[], dict[str, Any]]] = {
        "environment": lambda: section_environment(args),
        "congruence": lambda: section_congruence(args),
        "faiss": lambda: section_faiss(args),
        "throughput": lambda: section_throughput(args, state),
        "training": lambda: section_training(args, state),
        "profile": lambda: section_profile(args, state),
        "clip": lambda: section_clip(args, state),
        "index": lambda: section_index(args, state),
    }
    failed = 0
    for name in args.sections.split(","):
        start = time.perf_counter()
        logger.info("section %s", name)
        try:
            results[name] = sections[name]()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - record it, go on
            failed += 1
            results[name] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc()[-3000:]}
            logger.exception("section %s failed", name)
        results[name]["wall_s"] = round(time.perf_counter() - start, 1)
        (args.out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
    logger.info("wrote %s", args.out / "gpu_check.json")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
