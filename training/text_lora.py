"""nyx-lite's text tower (all-MiniLM-L6-v2) in torch with low-rank adapters, for training.

Only the adapters train: every linear layer named in
:data:`nyx.encoders.text_adapter.ADAPTED_LINEARS` gets ``W x + scale * B (A x)`` with ``B``
starting at zero, so an untrained tower computes exactly the plain MiniLM's vectors.
:meth:`LoraTextTower.factors` hands the factors to
:func:`nyx.encoders.text_adapter.write_adapter`; inference then merges them into the ONNX
graph (:mod:`nyx.encoders.minilm_onnx`), which needs no torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from nyx.encoders.minilm_onnx import MAX_TOKENS
from nyx.encoders.text_adapter import ADAPTED_LINEARS
from nyx.encoders.towers import minilm_dir

__all__ = ["LoraLinear", "LoraTextTower"]


class LoraLinear(nn.Module):
    """A linear layer plus a trainable low-rank update ``scale * B @ A`` (``B`` starts at zero;
    ``A`` is given or Kaiming-uniform). Freezing ``base`` is the caller's choice."""

    def __init__(self, base: nn.Linear, rank: int, scale: float,
                 a: torch.Tensor | None = None) -> None:
        super().__init__()
        self.base = base
        self.scale = scale
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features) if a is None else a)
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))
        if a is None:
            nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


class LoraTextTower(nn.Module):
    """MiniLM with adapters; ``forward(texts)`` -> normalised vectors [n, 384] (as nyx-lite)."""

    def __init__(self, rank: int = 8, alpha: float = 16.0, layers: int | None = None) -> None:
        """Adapters on the top ``layers`` BERT layers (all when ``None``): the layers below
        them run without a backward pass, which makes a step cheaper."""
        super().__init__()
        from tokenizers import Tokenizer
        from transformers import BertModel

        from nyx.encoders.towers import quiet_transformers

        quiet_transformers()
        folder = minilm_dir()
        self.bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False)
        for p in self.bert.parameters():
            p.requires_grad_(False)
        self.rank, self.scale = rank, alpha / rank
        self.adapted: dict[str, LoraLinear] = {}
        depth = len(self.bert.encoder.layer)
        first = depth - min(depth, layers) if layers else 0
        for i, layer in enumerate(self.bert.encoder.layer):
            if i < first:
                continue
            for path in ADAPTED_LINEARS:
                parent = layer
                *heads, last = path.split(".")
                for part in heads:
                    parent = getattr(parent, part)
                wrapped = LoraLinear(getattr(parent, last), rank, self.scale)
                setattr(parent, last, wrapped)
                self.adapted[f"encoder.layer.{i}.{path}.weight"] = wrapped
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.no_padding()

    def trainable(self) -> list[nn.Parameter]:
        return [p for m in self.adapted.values() for p in (m.lora_a, m.lora_b)]

    def forward(self, texts: list[str]) -> torch.Tensor:
        encodings = self.tokenizer.encode_batch(list(texts))
        length = max(len(e.ids) for e in encodings)
        ids = torch.zeros((len(texts), length), dtype=torch.long)
        mask = torch.zeros((len(texts), length), dtype=torch.long)
        for r, e in enumerate(encodings):
            ids[r, :len(e.ids)] = torch.tensor(e.ids)
            mask[r, :len(e.ids)] = 1
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled, dim=-1)

    def factors(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Weight name -> (A, B) as numpy, for :func:`~nyx.encoders.text_adapter.write_adapter`."""
        return {name: (m.lora_a.detach().cpu().numpy(), m.lora_b.detach().cpu().numpy())
                for name, m in self.adapted.items()}

    def adapter_state(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{part}": getattr(m, part).detach().clone()
                for name, m in self.adapted.items() for part in ("lora_a", "lora_b")}

    def load_adapter_state(self, state: dict[str, Any]) -> None:
        with torch.no_grad():
            for name, m in self.adapted.items():
                m.lora_a.copy_(state[f"{name}.lora_a"])
                m.lora_b.copy_(state[f"{name}.lora_b"])
