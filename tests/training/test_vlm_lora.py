"""LoRA / DoRA contrastive training of a tiny random Qwen2-VL on CPU, and its exported adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nyx.training.checkpoint import seed_everything
from nyx.training.config import AdapterConfig
from nyx.training.data import load_pairs
from tests.helpers import skimage_photo
from tests.training.conftest import small_config

pytest.importorskip("peft")

from nyx.encoders.vlm import VLMEncoder  # noqa: E402
from nyx.training.embedders.vlm import VLMEmbedder  # noqa: E402
from nyx.training.trainer import ContrastiveTrainer  # noqa: E402
from tests.nyx.test_vlm import MAX_PIXELS, tiny_model, tiny_processor  # noqa: E402

PAIRS = [
    ("the quick brown fox", "a fox jumps over the lazy dog", "coffee in a cup"),
    ("lazy dog", "the dog sleeps all day", "an astronaut in space"),
    ("astronaut", ["an astronaut floats in space", "astronaut.png"], "the quick brown fox"),
    ("a cat", ["chelsea.png", "a cat sits on a mat"], "the dog sleeps all day"),
]


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("vlm-pairs")
    for name in ("astronaut", "chelsea"):
        skimage_photo(name).resize((64, 64)).save(folder / f"{name}.png")

    def side(value: Any) -> Any:
        if isinstance(value, str):
            return value
        return {"parts": [{"image": v} if v.endswith(".png") else {"text": v} for v in value]}

    lines = [{"query": q, "positive": side(p), "negatives": [side(n)]} for q, p, n in PAIRS]
    path = folder / "pairs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def make_embedder(tiny_vlm: tuple[Any, Any], adapter: AdapterConfig,
                  save_base: Path | None = None, family: str = "Qwen2VL") -> VLMEmbedder:
    """A fresh random model (peft modifies it in place) wrapped for training."""
    processor, _ = tiny_vlm
    if family != "Qwen2VL":
        processor = tiny_processor(f"{family}Processor")
    model = tiny_model(processor, family=family)
    if save_base is not None:
        model.save_pretrained(save_base)
        processor.save_pretrained(save_base)
    encoder = VLMEncoder("tiny-qwen2-vl", model_obj=model, processor=processor,
                         max_pixels=MAX_PIXELS)
    return VLMEmbedder(encoder, adapter)


def train(embedder: VLMEmbedder, pairs_file: Path, output: Path, steps: int) -> list[float]:
    config = small_config(
        output, data={"train": str(pairs_file), "hard_negatives": 1},
        optim={"max_steps": steps, "batch_size": 4, "lr": 5e-3, "schedule": "constant"},
        loss={"temperature": 0.05, "matryoshka_dims": [64, 32, 16],
              "matryoshka_weights": [1.0, 1.0, 1.0]})
    data = load_pairs(pairs_file, cache_dir=output / "cache")
    return ContrastiveTrainer(config, embedder, data).train().losses


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_lora_loss_falls_and_the_adapter_loads_in_nyx(tiny_vlm, pairs_file: Path,
                                                      tmp_path: Path) -> None:
    seed_everything(0)
    base_folder = tmp_path / "base"
    embedder = make_embedder(tiny_vlm, AdapterConfig(r=8, alpha=16, dropout=0.0), base_folder)
    trainable = [n for n, p in embedder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "language_model" in n for n in trainable)

    losses = train(embedder, pairs_file, tmp_path, steps=6)
    assert all(np.isfinite(losses))
    assert losses[-1] < 0.75 * losses[0], losses
    assert sum(losses[-2:]) < sum(losses[:2]), losses

    adapter = tmp_path / "run" / "final" / "adapter"
    assert (adapter / "adapter_config.json").is_file()
    loaded = VLMEncoder(base_folder, adapter=adapter, local_files_only=True,
                        max_pixels=MAX_PIXELS)
    from nyx.training.data import to_item

    items = [to_item(row["positive"]) for row in load_pairs(pairs_file,
                                                            cache_dir=tmp_path / "c2")]
    embedder.eval()
    with torch.no_grad():
        trained = torch.nn.functional.normalize(embedder.embed(items, is_query=False), dim=-1)
    np.testing.assert_allclose(loaded.encode_documents(items), trained.numpy(), atol=1e-4)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_dora_trains_on_qwen2_5_vl_language_model_only(tiny_vlm, pairs_file: Path,
                                                      tmp_path: Path) -> None:
    seed_everything(0)
    embedder = make_embedder(tiny_vlm, AdapterConfig(r=4, alpha=8, dora=True, dropout=0.1),
                             family="Qwen2_5_VL")
    trainable = [n for n, p in embedder.named_parameters() if p.requires_grad]
    assert any("lora_magnitude_vector" in n for n in trainable)
    # Qwen2.5-VL's vision MLP also has gate/up/down_proj layers; the default target skips them.
    assert all("language_model" in n and "visual" not in n for n in trainable)
    losses = train(embedder, pairs_file, tmp_path, steps=2)
    assert all(np.isfinite(losses))


def test_an_adapter_that_matches_nothing_says_so(tiny_vlm) -> None:
    with pytest.raises(ValueError, match="matched no module"):
        make_embedder(tiny_vlm, AdapterConfig(target_modules=["no_such_layer"]))
