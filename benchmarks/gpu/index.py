"""``nyx-index build | search | verify | info`` with the VLM encoder, as a user runs them."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from nyx.benchmarks.gpu.models import build_model
from nyx.encoders.spec import EncoderSpec


def section_index(args: argparse.Namespace, state: dict[str, Any]) -> dict[str, Any]:
    """``nyx-index build | search | verify`` on the demo corpus with the VLM encoder (``vlm:PATH``,
    on the GPU when there is one), as a user would run them."""
    import subprocess

    import torch

    work = Path(args.work)
    model_dir = work / "model"
    if not (model_dir / "config.json").is_file():
        model = state.pop("model", None) or build_model(
            state["processor"], state["shape"], "Qwen2_5_VL", args.device, torch.bfloat16)
        model.save_pretrained(model_dir)
        state["processor"].save_pretrained(model_dir)
        del model
        if args.device.startswith("cuda"):
            torch.cuda.empty_cache()
    root = Path(__file__).resolve().parents[2]
    corpus, index = root / "nyx" / "data" / "demo_corpus", work / "demo.nyx"
    shutil.rmtree(index, ignore_errors=True)

    def cli(*cli_args: str) -> tuple[subprocess.CompletedProcess[str], float]:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "nyx.cli.index", *cli_args],
                              capture_output=True, text=True, timeout=900)
        if done.returncode not in (0,):
            raise RuntimeError(f"nyx-index {cli_args[0]} exited {done.returncode}: "
                               f"{done.stderr[-2000:]}")
        return done, time.perf_counter() - start

    build, build_s = cli("build", str(corpus), "-o", str(index), "--model",
                         str(EncoderSpec("vlm", str(model_dir))),
                         "--json")
    text, text_s = cli("search", str(index), "a cup of coffee", "-k", "3", "--json")
    image, image_s = cli("search", str(index), "--image",
                         str(corpus / "photos" / "rocket-launch.jpg"), "-k", "3", "--json")
    verify, verify_s = cli("verify", str(index))
    info, _ = cli("info", str(index))
    built = json.loads(build.stdout)

    def hits(done: subprocess.CompletedProcess[str]) -> list[list[Any]]:
        return [[hit["id"], hit["score"]] for hit in json.loads(done.stdout)]

    return {"build": {k: built.get(k) for k in ("documents", "vectors", "embedded", "seconds",
                                                "peak_memory_mb", "generation")},
            "build_s": round(build_s, 1),
            "text_search": hits(text), "text_search_s": round(text_s, 1),
            "image_search": hits(image), "image_search_s": round(image_s, 1),
            "verify": verify.stdout.strip()[-500:], "verify_s": round(verify_s, 1),
            "info": info.stdout.strip()[-800:]}
