"""``nyx-train`` under torchrun: two CPU processes (gloo) train the tiny Qwen2-VL LoRA together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("peft")

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "training" / "configs" / "tiny-vlm-cpu.yaml"


def torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc_per_node", "2", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.training.make_tiny_vlm import main as make_tiny_vlm

    return make_tiny_vlm(str(tmp_path_factory.mktemp("tiny-vlm")))


def overrides(folder: Path, steps: int) -> list[str]:
    return [f"model.name={folder / 'model'}", f"data.train={folder / 'pairs.jsonl'}",
            f"optim.max_steps={steps}", "checkpoint.every_steps=2"]


def test_two_processes_keep_identical_weights(tiny_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    done = torchrun(str(ROOT / "tests" / "training" / "ddp_worker.py"), str(CONFIG), str(out),
                    *overrides(tiny_folder, 4), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"weights-rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert ranks[0]["before"] == ranks[1]["before"]  # the seed makes the same adapter
    assert ranks[0]["after"] == ranks[1]["after"]  # averaged gradients keep them equal
    assert ranks[0]["after"] != ranks[0]["before"]
    # Only the main process writes metrics, checkpoints and the exported adapter.
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
    assert (out / "final" / "adapter" / "adapter_config.json").is_file()
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-000002",
                                                                       "step-000004"]


def test_nyx_train_cli_under_torchrun_prints_one_summary(tiny_folder: Path,
                                                         tmp_path: Path) -> None:
    out = tmp_path / "cli"
    args = [x for kv in [*overrides(tiny_folder, 2), f"output_dir={out}"] for x in ("--set", kv)]
    done = torchrun("-m", "nyx.training.cli", str(CONFIG), *args, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    assert summary["steps"] == 2 and summary["exported"].endswith("adapter")
    assert done.stdout.count('"steps"') == 1
