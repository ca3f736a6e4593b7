"""Trainable embedders and the factory that builds one from a run config."""

from __future__ import annotations

from pathlib import Path

from nyx.training.config import TrainConfig
from nyx.training.embedders.base import TrainableEmbedder

__all__ = ["TrainableEmbedder", "build_embedder"]


def build_embedder(config: TrainConfig) -> TrainableEmbedder:
    """``model.kind``: ``nyx-lite-projection`` or ``vlm`` (LoRA/DoRA via peft)."""
    model = config.model
    if model.kind == "nyx-lite-projection":
        from nyx.encoders.lite import NyxLite
        from nyx.training.embedders.projection import LiteProjectionEmbedder

        device = "cpu" if model.device == "auto" else model.device
        return LiteProjectionEmbedder(
            model.feature_cache or Path(config.output_dir) / "features",
            NyxLite(device=device, ocr=False), feature_dropout=model.feature_dropout,
            text_weight=model.text_weight, init_from=model.init_from)
    if model.kind == "vlm":
        from nyx.training.embedders.vlm import VLMEmbedder

        return VLMEmbedder.from_config(model)
    raise ValueError(f"unknown model.kind {model.kind!r}: use nyx-lite-projection or vlm")
