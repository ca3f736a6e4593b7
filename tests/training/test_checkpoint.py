"""Checkpoint and resume: a run interrupted after step 3 continues exactly as the uninterrupted
run does (weights, optimizer, schedule, data order and dropout RNG)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from nyx.training.checkpoint import list_checkpoints, seed_everything
from nyx.training.config import TrainConfig
from nyx.training.data import load_pairs
from nyx.training.embedders.projection import FEATURE_DIM, LiteProjectionEmbedder
from nyx.training.trainer import ContrastiveTrainer
from tests.training.conftest import images_with_cached_features, small_config

WORDS = ["red", "green", "blue", "cat", "dog", "car", "tree", "house", "boat", "bird", "cup"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Ten caption/image pairs with one hard negative each; image features cached up front
    (random vectors), so the test never runs the CNN."""
    folder = tmp_path_factory.mktemp("pairs")
    features = images_with_cached_features(folder, WORDS[:10])
    lines = [{"query": f"a picture of a {word}", "positive": {"images": [f"{word}.png"]},
              "negatives": [{"images": [f"{WORDS[(i + 1) % 10]}.png"]}]}
             for i, word in enumerate(WORDS[:10])]
    (folder / "pairs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return {"pairs": folder / "pairs.jsonl", "features": features}


def run(dataset: dict[str, Path], output: Path, lite: Any) -> tuple[list[float], dict]:
    config = small_config(
        output, data={"train": str(dataset["pairs"]), "hard_negatives": 1},
        optim={"max_steps": 6, "grad_accum_steps": 2, "warmup_steps": 1, "lr": 1e-2,
               "schedule": "linear"},
        loss={"temperature": 0.05}, checkpoint={"every_steps": 3})
    seed_everything(config.seed)
    embedder = LiteProjectionEmbedder(dataset["features"], lite, feature_dropout=0.3)
    data = load_pairs(dataset["pairs"], cache_dir=output / "cache")
    result = ContrastiveTrainer(config, embedder, data).train()
    return result.losses, embedder.trainable_state()


def test_resume_continues_identically(dataset: dict[str, Path], tmp_path: Path,
                                      lite_no_ocr: Any) -> None:
    straight_losses, straight_state = run(dataset, tmp_path / "a", lite_no_ocr)
    checkpoints = list_checkpoints(tmp_path / "a" / "run" / "checkpoints")
    assert [c.name for c in checkpoints] == ["step-000003", "step-000006"]
    assert (tmp_path / "a" / "run" / "final" / "projection.safetensors").is_file()

    # An "interrupted" run: only the step-3 checkpoint exists in its output folder.
    resumed_dir = tmp_path / "b" / "run" / "checkpoints"
    resumed_dir.mkdir(parents=True)
    shutil.copytree(checkpoints[0], resumed_dir / checkpoints[0].name)
    resumed_losses, resumed_state = run(dataset, tmp_path / "b", lite_no_ocr)

    assert len(straight_losses) == 6 and len(resumed_losses) == 3
    assert resumed_losses == pytest.approx(straight_losses[3:], rel=1e-6)
    for name, tensor in straight_state.items():
        torch.testing.assert_close(resumed_state[name], tensor, rtol=0, atol=0)
    metrics = [json.loads(x) for x in (tmp_path / "a" / "run" / "metrics.jsonl").open()]
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    assert metrics[0]["lr"] < metrics[1]["lr"]  # warm-up, then linear decay
    assert metrics[1]["lr"] > metrics[-1]["lr"]


def test_cli_trains_and_exports(dataset: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from nyx.encoders.projection import ImageProjection
    from nyx.training.cli import main

    config = small_config(tmp_path, data={"train": str(dataset["pairs"]),
                                          "dev": str(dataset["pairs"])},
                          model={"feature_cache": str(dataset["features"])},
                          optim={"max_steps": 3})
    path = config.to_yaml(tmp_path / "run.yaml")
    assert main([str(path), "--set", "optim.lr=5e-3", "--set", "eval.ks=[1, 5]"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 3 and summary["exported"].endswith("projection.safetensors")
    assert ImageProjection.load(summary["exported"]).weight.shape == (384, FEATURE_DIM)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert set(results["dev"]) == {"recall@1", "recall@5"}
    assert TrainConfig.from_yaml(tmp_path / "run" / "config.yaml").optim.lr == 5e-3
