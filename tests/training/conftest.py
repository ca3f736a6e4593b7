"""Fixtures for training tests: the offline text tower, a tiny random Qwen2-VL, clip-art pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nyx.training.config import TrainConfig

OPENCLIPART = Path("/usr/share/openclipart")


@pytest.fixture(scope="session")
def lite_no_ocr() -> Any:
    from nyx.encoders.lite import NyxLite

    return NyxLite(device="cpu", ocr=False)


@pytest.fixture(scope="module")
def tiny_vlm() -> tuple[Any, Any]:
    """``(processor, model)``: the random Qwen2-VL the nyx VLM tests use (built offline)."""
    pytest.importorskip("peft")
    from tests.nyx.test_vlm import tiny_model, tiny_processor

    processor = tiny_processor()
    return processor, tiny_model(processor)


def images_with_cached_features(folder: Path, names: list[str]) -> Path:
    """Tiny PNGs ``folder/<name>.png`` whose (random) features are already in a feature cache at
    ``folder/features``, so projection training never runs the CNN. Returns the cache folder."""
    import numpy as np
    from PIL import Image

    from nyx.content import ImagePart
    from nyx.training.embedders.projection import FEATURE_DIM
    from nyx.training.features import FeatureCache, image_key

    cache = FeatureCache(folder / "features")
    keys = []
    for i, name in enumerate(names):
        path = folder / f"{name}.png"
        Image.new("RGB", (4, 4), (i * 20 % 256, 255 - i * 20 % 256, 7)).save(path)
        keys.append(image_key(ImagePart(str(path))))
    features = np.random.default_rng(0).normal(size=(len(names), FEATURE_DIM))
    cache.add(keys, features.astype(np.float32), np.zeros((len(names), 4), np.float32))
    return folder / "features"


def small_config(tmp_path: Path, stage: str = "contrastive",
                 **sections: dict[str, Any]) -> TrainConfig:
    """A run config for tests: tiny batches, no checkpoints unless asked, quiet logging."""
    base: dict[str, Any] = {"stage": stage, "output_dir": str(tmp_path / "run"), "seed": 0,
                            "log_every_steps": 0,
                            "optim": {"batch_size": 4, "lr": 1e-3, "bf16": False},
                            "checkpoint": {"every_steps": 0, "keep": 5}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return TrainConfig.from_dict(base)
