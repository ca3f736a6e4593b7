"""The shipped LoRA recipe on the 3B-shape model: steps, memory, resume, adapter export."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from nyx.benchmarks.gpu.models import SMALL, build_model, photos


def write_pairs(rows: list[dict[str, Any]], n: int, folder: Path, seed: int = 0) -> Path:
    """SQuAD question -> its paragraph; hard negative: another paragraph of the same article.

    Every fourth positive also carries a photo (an interleaved document), so the image path of
    the trainer runs too.
    """
    rng = random.Random(seed)
    by_title: dict[str, list[str]] = {}
    for r in rows:
        contexts = by_title.setdefault(r["title"], [])
        if r["context"] not in contexts:
            contexts.append(r["context"])
    image_paths = []
    for i, image in enumerate(photos(448)):
        path = folder / f"photo{i}.png"
        image.save(path)
        image_paths.append(str(path))
    chosen = rng.sample(rows, n)
    pairs = []
    for i, r in enumerate(chosen):
        others = [c for c in by_title[r["title"]] if c != r["context"]] or [rows[0]["context"]]
        positive: Any = r["context"]
        if i % 4 == 0:
            positive = {"text": r["context"], "images": [image_paths[i % len(image_paths)]]}
        pairs.append({"query": r["question"], "positive": positive,
                      "negatives": [rng.choice(others)]})
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


def _metrics(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def section_training(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    import torch

    from nyx.encoders.vlm import VLMEncoder
    from nyx.training.config import load_train_config
    from nyx.training.runs import run_stage

    work = Path(args.work)
    model_dir, run_dir = work / "model", work / "run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a fresh run, not a resumed earlier one
    model = state.pop("model", None)
    if model is None:
        model = build_model(state["processor"], state["shape"], "Qwen2_5_VL", args.device,
                            torch.bfloat16)
    t0 = time.perf_counter()
    model.save_pretrained(model_dir)
    state["processor"].save_pretrained(model_dir)
    saved = time.perf_counter() - t0
    del model
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    batch = args.batch_size
    pairs = write_pairs(state["rows"], batch * (args.steps + 2), work)
    small = state["shape"] is SMALL
    dims = "[128,64,32]" if small else "[2048,1024,512,256]"
    common = [f"model.name={model_dir}", "model.local_files_only=true",
              f"model.device={args.device}", f"data.train={pairs}", "data.dev=null",
              f"output_dir={run_dir}", f"optim.batch_size={batch}", "optim.warmup_steps=2",
              "eval.every_steps=0", "log_every_steps=1", f"loss.matryoshka_dims={dims}",
              "loss.matryoshka_weights=[]"]
    if not args.device.startswith("cuda"):
        common += ["model.dtype=fp32", "optim.bf16=false"]
    recipe = str(Path(__file__).resolve().parents[2] / "training/configs/qwen2.5-vl-3b-lora.yaml")
    t0 = time.perf_counter()
    run_stage(load_train_config(recipe, [f"optim.max_steps={args.steps}",
                                   f"checkpoint.every_steps={args.steps}", *common]))
    first_wall = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**30) if args.device.startswith("cuda") else None
    records = _metrics(run_dir)
    # Resume: two more steps from the checkpoint at --steps.
    t0 = time.perf_counter()
    run_stage(load_train_config(recipe, [f"optim.max_steps={args.steps + 2}",
                                   f"checkpoint.every_steps={args.steps}", *common]))
    resume_wall = time.perf_counter() - t0
    resumed = _metrics(run_dir)[len(records):]
    step_seconds = [r["seconds"] for r in records[1:]]
    out: dict[str, Any] = {
        "recipe": "training/configs/qwen2.5-vl-3b-lora.yaml", "batch_size": batch,
        "hard_negatives": 1, "steps": len(records), "save_model_seconds": round(saved, 1),
        "first_run_wall_s": round(first_wall, 1), "resume_wall_s": round(resume_wall, 1),
        "losses": [round(r["loss"], 4) for r in records],
        "step_seconds_median": round(float(np.median(step_seconds)), 3) if step_seconds else None,
        "first_step_seconds": records[0]["seconds"] if records else None,
        "peak_gib": round(peak, 2) if peak is not None else None,
        "resumed_steps": [r["step"] for r in resumed],
    }
    if step_seconds:
        out["pairs_per_s"] = round(batch / out["step_seconds_median"], 1)
    adapter = run_dir / "final" / "adapter"
    questions = [r["question"] for r in state["rows"][:4]]
    dim = 64 if small else 1024
    kwargs = {"device": args.device, "local_files_only": True, "dim": dim,
              "dtype": "bf16" if args.device.startswith("cuda") else "fp32"}
    tuned = VLMEncoder(str(model_dir), adapter=adapter, **kwargs).encode_queries(questions)
    if args.device.startswith("cuda"):
        torch.cuda.empty_cache()
    plain = VLMEncoder(str(model_dir), **kwargs).encode_queries(questions)
    out["adapter_load"] = {"shape": list(tuned.shape),
                           "cosine_to_base_model": [round(float(c), 4)
                                                    for c in (tuned * plain).sum(1)]}
    return out
