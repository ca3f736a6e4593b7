"""The Nyx embedder: a Qwen2-VL / Qwen2.5-VL vision-language model used as a last-token encoder."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from nyx.content import Item
from nyx.encoders.base import Encoder, resolve_device
from nyx.encoders.spec import EncoderSpec

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "SnowNation/Nyx"
DEFAULT_QUERY_INSTRUCTION = (
    "Please retrieve the most relevant document to answer the question.\nQuestion: {query}"
)
QUERY_SLOT = "{query}"
#: Families whose processor and forward signature this encoder was written against.
KNOWN_MODEL_TYPES = frozenset({"qwen2_vl", "qwen2_5_vl"})
_DTYPES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
           "half": "float16", "fp32": "float32", "float32": "float32", "float": "float32"}
# Used when a processor has no chat template: Qwen's own image placeholder.
_RAW_IMAGE = "<|vision_start|>{image_token}<|vision_end|>"


def import_transformers() -> Any:
    try:
        import transformers
    except ImportError as exc:
        raise ImportError(
            "the VLM encoder needs transformers: pip install 'nyx-retrieval[vlm]'"
        ) from exc
    return transformers


class VLMEncoder(Encoder):
    """A transformers vision-language model (Qwen2-VL / Qwen2.5-VL family) as an embedder.

    Each item becomes one user turn whose content is the item's parts in order (text entries and
    inline images). Queries are wrapped in ``query_instruction`` (its ``{query}`` slot receives the
    query's parts, images included, in place); documents get no instruction. The processor's chat
    template renders the turn *with* the generation prompt (``<|im_start|>assistant\\n``) for both
    queries and documents, so the pooled token is the one the model would answer from; processors
    without a template get the raw interleaved text (Qwen vision placeholders for images).

    The embedding is the final hidden state of the last non-padding token (found from the
    attention mask, so it holds for either padding side; the tokenizer pads on the left), L2
    normalised. ``dim`` truncates it Matryoshka-style to its first ``dim`` values and renormalises.

    ``chat_template=False`` renders every item as raw interleaved text (Qwen vision placeholders
    for images), the input format of the Nyx authors' scripts; ``None`` uses the processor's
    template when it has one.

    For tests and custom setups pass ``model_obj`` (a loaded model) and ``processor``; ``model``
    is then only the label used in :attr:`name`, and ``dtype``/``attn_implementation`` do not
    apply (the model keeps its own; ``device``, when given, moves it). An ``adapter`` (LoRA/DoRA,
    loaded with peft) is merged into the model's weights, in place for a ``model_obj``.

    >>> VLMEncoder("SnowNation/Nyx", dim=1024)                      # online, Hugging Face Hub
    >>> VLMEncoder("/models/nyx", local_files_only=True)             # offline, a local folder
    """

    def __init__(self, model: str | Path = DEFAULT_MODEL, device: str | None = None,
                 dim: int | None = None,
                 query_instruction: str = DEFAULT_QUERY_INSTRUCTION,
                 adapter: str | Path | None = None, dtype: Any = "auto",
                 attn_implementation: str = "auto", max_pixels: int | None = None,
                 min_pixels: int | None = None, local_files_only: bool = False, *,
                 chat_template: bool | None = None, pad_to_multiple_of: int | None = None,
                 model_obj: Any = None, processor: Any = None) -> None:
        import_transformers()
        if query_instruction.count(QUERY_SLOT) > 1:
            raise ValueError(f"query_instruction may contain {QUERY_SLOT} at most once, got "
                             f"{query_instruction!r}")
        if min_pixels is not None and max_pixels is not None and min_pixels > max_pixels:
            raise ValueError(f"min_pixels ({min_pixels}) is larger than max_pixels ({max_pixels})")
        if (model_obj is None) != (processor is None):
            raise ValueError("pass model_obj and processor together (or neither, to load both "
                             "from model=)")

        if model_obj is None:
            self.device = resolve_device(device)
            torch_dtype = _resolve_dtype(dtype, self.device)
            attn = _resolve_attention(attn_implementation, self.device, torch_dtype)
            model_obj, processor = _load_pretrained(str(model), torch_dtype, attn, local_files_only)
            model_obj.to(self.device)
            label = str(model)
        else:
            if device is not None:
                self.device = resolve_device(device)
                model_obj.to(self.device)
            else:
                self.device = str(next(model_obj.parameters()).device)
            label = str(model)
            if label == DEFAULT_MODEL:
                label = getattr(model_obj, "name_or_path", "") or type(model_obj).__name__

        model_type = getattr(model_obj.config, "model_type", "?")
        if model_type not in KNOWN_MODEL_TYPES:
            logger.warning("VLMEncoder was written for Qwen2-VL / Qwen2.5-VL; %s has model_type "
                           "%r and may not work", label, model_type)
        if adapter is not None:
            model_obj = _merge_adapter(model_obj, adapter, local_files_only)
        self.model = model_obj.eval()
        self.processor = processor
        self.processor.tokenizer.padding_side = "left"
        self._backbone = _backbone(self.model)

        self.full_dim = _hidden_size(self.model.config)
        if dim is not None and not 1 <= dim <= self.full_dim:
            raise ValueError(f"dim must be within [1, {self.full_dim}] (the model's hidden size), "
                             f"got {dim}")
        self.dim = dim or self.full_dim
        self.query_instruction = query_instruction
        self._instruction = _split_instruction(query_instruction)
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        if pad_to_multiple_of is not None and pad_to_multiple_of < 1:
            raise ValueError(f"pad_to_multiple_of must be >= 1, got {pad_to_multiple_of}")
        self.pad_to_multiple_of = pad_to_multiple_of
        self._image_kwargs = _image_size_kwargs(processor, min_pixels, max_pixels)
        has_template = bool(getattr(processor, "chat_template", None))
        if chat_template and not has_template:
            raise ValueError(f"chat_template=True but the processor of {label} has no chat "
                             "template; pass chat_template=None or False for raw text")
        self.uses_chat_template = has_template if chat_template is None else chat_template
        if not self.uses_chat_template:
            logger.info("%s: items are rendered as raw interleaved text (no chat template)",
                        label)

        adapter_id = "none" if adapter is None else _adapter_id(adapter)
        instruction_id = hashlib.sha256(query_instruction.encode()).hexdigest()[:8]
        self.name = str(EncoderSpec("vlm", label))
        self.version = (f"{label}+dim{self.dim}+adapter:{adapter_id}"
                        f"+px{min_pixels or 'default'}-{max_pixels or 'default'}"
                        f"+instruction:{instruction_id}"
                        + ("" if self.uses_chat_template else "+raw"))

    def _encode_batch(self, items: list[Item], *, is_query: bool) -> np.ndarray:
        import torch

        inputs = self.prepare_inputs(items, is_query=is_query)
        with torch.inference_mode():
            pooled = self.pooled(inputs)
        return matryoshka(pooled, self.dim).cpu().numpy()

    def prepare_inputs(self, items: list[Item], *, is_query: bool) -> Any:
        """The processor's batch for ``items`` (rendered, padded, images sized), on the device."""
        contents, images = [], []
        for item in items:
            content, item_images = self.build_content(item, is_query=is_query)
            contents.append(content)
            images.extend(item_images)
        padding: dict[str, Any] = ({"pad_to_multiple_of": self.pad_to_multiple_of}
                                   if self.pad_to_multiple_of else {})
        inputs = self.processor(text=self.render(contents), images=images or None,
                                padding=True, return_tensors="pt", **padding,
                                **(self._image_kwargs if images else {}))
        inputs = inputs.to(self.device)
        if "pixel_values" not in inputs:
            # Text only: positions count real tokens, so left and right padding agree exactly.
            # (With images, the model derives its 3-D rope positions from the mask itself.)
            mask = inputs["attention_mask"]
            inputs["position_ids"] = (mask.long().cumsum(-1) - 1).clamp(min=0)
        return inputs

    def pooled(self, inputs: Any) -> Any:
        """Last-token hidden states (float32, not normalised) of a ``prepare_inputs`` batch.

        Runs with gradients when the caller has them enabled (training an adapter).
        """
        hidden = self._backbone(**inputs, use_cache=False).last_hidden_state
        return last_token_pool(hidden, inputs["attention_mask"]).float()

    def build_content(self, item: Item, *,
                      is_query: bool) -> tuple[list[dict[str, str]], list[Any]]:
        """The chat content entries for one item, and its images (loaded) in order.

        Adjacent text parts are joined by a newline; the instruction's text around ``{query}``
        is joined to the query's first and last text without one, as ``str.format`` would.
        """
        entries: list[dict[str, str]] = []
        images: list[Any] = []

        def add_text(text: str, glue: str) -> None:
            if entries and entries[-1]["type"] == "text":
                entries[-1] = {"type": "text", "text": entries[-1]["text"] + glue + text}
            else:
                entries.append({"type": "text", "text": text})

        prefix, suffix = self._instruction if is_query else ("", "")
        if prefix:
            add_text(prefix, "")
        glue = ""
        for part in item.parts:
            if isinstance(part, str):
                if part:
                    add_text(part, glue)
                    glue = "\n"
            else:
                entries.append({"type": "image"})
                images.append(part.load())
                glue = ""
        if suffix:
            add_text(suffix, "")
        return entries, images

    def render(self, contents: list[list[dict[str, str]]]) -> list[str]:
        """Prompt strings: the chat template with the generation prompt, or raw interleaved text."""
        if self.uses_chat_template:
            conversations = [[{"role": "user", "content": content}] for content in contents]
            return list(self.processor.apply_chat_template(
                conversations, tokenize=False, add_generation_prompt=True))
        image = _RAW_IMAGE.format(image_token=self.processor.image_token)
        return ["".join(e["text"] if e["type"] == "text" else image for e in content)
                for content in contents]


def _split_instruction(instruction: str) -> tuple[str, str]:
    """The text before and after the query; without a ``{query}`` slot the query follows it."""
    prefix, slot, suffix = instruction.partition(QUERY_SLOT)
    if not slot:
        return (instruction + "\n" if instruction else ""), ""
    return prefix, suffix


def last_token_pool(hidden: Any, attention_mask: Any) -> Any:
    """The hidden state of each row's last non-padding token (left or right padding)."""
    import torch

    seq_len = attention_mask.shape[1]
    last = seq_len - 1 - attention_mask.flip(-1).to(torch.long).argmax(dim=-1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last.to(hidden.device)]


def matryoshka(vectors: Any, dim: int) -> Any:
    """L2-normalise, keep the first ``dim`` values, renormalise."""
    import torch.nn.functional as F

    return F.normalize(F.normalize(vectors, dim=-1)[..., :dim], dim=-1)


def _load_pretrained(model: str, dtype: Any, attn: str, local_files_only: bool) -> tuple[Any, Any]:
    transformers = import_transformers()
    if model.startswith(("/", ".", "~")) and not Path(model).expanduser().is_dir():
        raise FileNotFoundError(f"model folder not found: {model}; pass a folder written by "
                                "save_pretrained (model and processor) or a Hub id like "
                                f"{DEFAULT_MODEL!r}")
    try:
        config = transformers.AutoConfig.from_pretrained(model, local_files_only=local_files_only)
        model_class = _model_class(transformers, config)
        model_obj = model_class.from_pretrained(model, dtype=dtype, attn_implementation=attn,
                                                local_files_only=local_files_only)
        processor = transformers.AutoProcessor.from_pretrained(
            model, local_files_only=local_files_only)
    except (OSError, ValueError) as exc:
        # transformers says OSError for missing files, ValueError for a folder without config.
        kind = OSError if isinstance(exc, OSError) else ValueError
        raise kind(
            f"could not load the vision-language model {model!r}: {str(exc).rstrip('.')}. "
            "Pass a local folder holding config.json, the weights and the processor files "
            "(tokenizer, preprocessor_config.json), or allow downloads from the Hugging Face "
            "Hub (local_files_only=False, HF_HUB_OFFLINE unset)"
        ) from exc
    logger.info("loaded %s as %s (%s, %s attention)", model, type(model_obj).__name__, dtype, attn)
    return model_obj, processor


def _model_class(transformers: Any, config: Any) -> Any:
    """The class the checkpoint was saved as, so adapters trained on it find their modules."""
    for architecture in getattr(config, "architectures", None) or []:
        model_class = getattr(transformers, architecture, None)
        if model_class is not None:
            return model_class
    return transformers.AutoModel


def _merge_adapter(model: Any, adapter: str | Path, local_files_only: bool) -> Any:
    try:
        from peft import PeftModel
    except ImportError as exc:
        raise ImportError(
            "loading a LoRA/DoRA adapter needs peft: pip install 'nyx-retrieval[vlm]'"
        ) from exc
    local = Path(adapter).expanduser()
    if local.exists() and not (local / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{local} has no adapter_config.json: pass the folder written "
                                "by PeftModel.save_pretrained")
    source = str(local) if local.exists() else str(adapter)
    peft_model = PeftModel.from_pretrained(model, source, is_trainable=False,
                                           local_files_only=local_files_only)
    logger.info("merging adapter %s into the model", source)
    return peft_model.merge_and_unload()


def _adapter_id(adapter: str | Path) -> str:
    local = Path(adapter).expanduser()
    weights = local / "adapter_model.safetensors"
    if not weights.is_file():
        weights = local / "adapter_model.bin"
    if weights.is_file():
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
        return f"{local.name}@sha256:{digest}"
    return str(adapter)


def _backbone(model: Any) -> Any:
    """The model without its language-model head (``last_hidden_state`` is all we need)."""
    if hasattr(model, "get_base_model"):
        # An unmerged peft model: its adapter layers live inside the base model's modules.
        model = model.get_base_model()
    inner = getattr(model, "model", None)
    if hasattr(model, "lm_head") and inner is not None:
        return inner
    return model


def _hidden_size(config: Any) -> int:
    text_config = getattr(config, "text_config", None) or config
    return int(text_config.hidden_size)


def _image_size_kwargs(processor: Any, min_pixels: int | None,
                       max_pixels: int | None) -> dict[str, Any]:
    if min_pixels is None and max_pixels is None:
        return {}
    current = getattr(processor.image_processor, "size", None) or {}
    size = {key: value for key, value in dict(current).items() if value is not None}
    if min_pixels is not None:
        size["shortest_edge"] = min_pixels
    if max_pixels is not None:
        size["longest_edge"] = max_pixels
    return {"size": size}


def _resolve_dtype(dtype: Any, device: str) -> Any:
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}: use 'auto', 'bf16', 'fp16', 'fp32' or a "
                         "torch.dtype")
    return getattr(torch, _DTYPES[dtype])


def _resolve_attention(attn_implementation: str, device: str, dtype: Any) -> str:
    import torch

    if attn_implementation != "auto":
        return attn_implementation
    half = dtype in (torch.bfloat16, torch.float16)
    if device.startswith("cuda") and half and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"
