"""What the trainer needs from a model: differentiable embeddings and its trainable state."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from nyx.content import Item


class TrainableEmbedder(nn.Module, ABC):
    """Embeds items with gradients; only some parameters (adapter, projection) are trained."""

    #: Size of the full embedding (the largest Matryoshka dim).
    dim: int = 0

    @abstractmethod
    def embed(self, items: Sequence[Item], *, is_query: bool) -> torch.Tensor:
        """``(len(items), dim)`` float embeddings, not necessarily normalised, with gradients."""

    def prepare(self, items: Sequence[Item], *, show_progress: bool = True) -> None:  # noqa: B027
        """Precompute frozen inputs (e.g. cached image features) for items seen in training."""

    @abstractmethod
    def export(self, folder: str | Path) -> Path:
        """Write the trained weights in the form ``nyx.load_encoder`` reads; return the path."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trained tensors only (what a checkpoint stores)."""
        return {name: p.detach().cpu().clone() for name, p in self.named_parameters()
                if p.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        params = dict(self.named_parameters())
        missing = sorted(n for n, p in params.items() if p.requires_grad and n not in state)
        unknown = sorted(set(state) - set(params))
        if missing or unknown:
            raise ValueError(f"checkpoint does not match the model: missing {missing[:3]}, "
                             f"unexpected {unknown[:3]}; was it written by a different config?")
        with torch.no_grad():
            for name, tensor in state.items():
                params[name].copy_(tensor.to(params[name].device, params[name].dtype))

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]
