"""A Qwen2-VL-family embedder with a LoRA or DoRA adapter (peft), trained with gradients.

Items are rendered exactly as :class:`nyx.encoders.vlm.VLMEncoder` renders them (same chat
template, query instruction and last-token pooling), so the exported adapter is what
``VLMEncoder(model, adapter=FOLDER)`` / ``load_encoder(..., adapter=FOLDER)`` loads.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nyx.content import Item
from nyx.encoders.spec import EncoderSpec
from nyx.encoders.vlm import DEFAULT_QUERY_INSTRUCTION, VLMEncoder
from nyx.training.config import AdapterConfig, ModelConfig
from nyx.training.embedders.base import TrainableEmbedder

logger = logging.getLogger(__name__)

ADAPTER_DIR = "adapter"


def _import_peft() -> Any:
    try:
        import peft
    except ImportError as exc:
        raise ImportError("LoRA/DoRA training needs peft: pip install 'nyx-retrieval[train]'") \
            from exc
    return peft


def _no_match(adapter: AdapterConfig, detail: object) -> str:
    return (f"the adapter matched no module ({detail}): target_modules="
            f"{adapter.target_modules!r}; list the model's Linear layer names "
            "(model.named_modules()) and adjust model.adapter.target_modules")


class VLMEmbedder(TrainableEmbedder):
    """Wraps a ``VLMEncoder``'s model in a trainable peft adapter; the base weights stay frozen."""

    def __init__(self, encoder: VLMEncoder, adapter: AdapterConfig | None = None, *,
                 init_from: str | Path | None = None,
                 gradient_checkpointing: bool = False) -> None:
        super().__init__()
        peft = _import_peft()
        adapter = adapter or AdapterConfig()
        base = encoder.model
        for p in base.parameters():
            p.requires_grad_(False)
        if init_from:
            model = peft.PeftModel.from_pretrained(base, str(init_from), is_trainable=True)
        else:
            config = peft.LoraConfig(r=adapter.r, lora_alpha=adapter.alpha,
                                     lora_dropout=adapter.dropout, use_dora=adapter.dora,
                                     target_modules=adapter.target_modules, bias="none")
            try:
                model = peft.get_peft_model(base, config)
            except ValueError as exc:  # peft: "Target modules ... not found"
                raise ValueError(_no_match(adapter, exc)) from exc
        if gradient_checkpointing:
            base.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})
        n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        if n_trainable == 0:
            raise ValueError(_no_match(adapter, "no trainable parameters"))
        logger.info("%s: %s trainable adapter parameters", encoder.name, f"{n_trainable:,}")
        self.peft_model = model
        # peft injects its layers in place, so the encoder's backbone now runs the adapter.
        self.encoder = encoder
        self.dim = encoder.full_dim

    @classmethod
    def from_config(cls, config: ModelConfig) -> VLMEmbedder:
        if not config.name:
            raise ValueError("model.name is empty: give a Qwen2-VL / Qwen2.5-VL folder or hub id")
        from nyx.training.distributed import default_device

        encoder = VLMEncoder(
            config.name, device=default_device() if config.device == "auto" else config.device,
            query_instruction=config.query_instruction if config.query_instruction is not None
            else DEFAULT_QUERY_INSTRUCTION, dtype=config.dtype,
            attn_implementation=config.attn_implementation, max_pixels=config.max_pixels,
            min_pixels=config.min_pixels, local_files_only=config.local_files_only,
            chat_template=config.chat_template)
        return cls(encoder, config.adapter, init_from=config.init_from,
                   gradient_checkpointing=config.gradient_checkpointing)

    def embed(self, items: Sequence[Item], *, is_query: bool) -> torch.Tensor:
        # The encoder's own batching and pooling: the adapter runs inside its backbone.
        return self.encoder.pooled(self.encoder.prepare_inputs(list(items), is_query=is_query))

    def export(self, folder: str | Path) -> Path:
        target = Path(folder) / ADAPTER_DIR
        self.peft_model.save_pretrained(str(target))
        (target / "nyx-train.json").write_text(json.dumps({
            "base_model": EncoderSpec.parse(self.encoder.name).model, "dim": self.dim,
            "query_instruction": self.encoder.query_instruction,
            "chat_template": self.encoder.uses_chat_template,
            "load_with": f"VLMEncoder(BASE_MODEL, adapter={str(target)!r}"
                         + (")" if self.encoder.uses_chat_template else ", chat_template=False)"),
        }, indent=2))
        return target
