"""``load_encoder``: one entry point from a name, a local path or a hub id to an encoder."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from nyx.encoders.base import Encoder
from nyx.encoders.spec import SPEC_HELP, EncoderSpec

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "nyx-lite"

_VLM_MODEL_TYPES = {"qwen2_vl", "qwen2_5_vl", "qwen3_vl"}


def load_encoder(spec: str | Path | Encoder = DEFAULT_ENCODER, *, device: str | None = None,
                 root: str | Path | None = None, **options: Any) -> Encoder:
    """Load an encoder from a registry name, a local path or a hub id.

    >>> load_encoder("nyx-lite")
    >>> load_encoder("nyx-lite", bridge="conse")  # images through ConSE only (pre-bridge vectors)
    >>> load_encoder("nyx-lite:runs/projection.safetensors")
    >>> load_encoder("clip:ViT-B-32@laion2b_s34b_b79k")
    >>> load_encoder("SnowNation/Nyx", dim=1024)

    ``root``: the folder that relative file options (an index's ``text_adapter``) are read
    from; they are recorded as given.
    """
    if isinstance(spec, Encoder):
        return spec
    parsed = EncoderSpec.parse(spec)
    given = dict(options)  # _dispatch may consume some
    adapter = options.get("text_adapter")
    if adapter and root is not None:
        # an index records its adapter inside its generation folder (it moves with it) and
        # never names a file elsewhere (an absolute path or ../ is refused)
        from nyx.encoders.text_adapter import adapter_relpath

        options["text_adapter"] = str(Path(root) / adapter_relpath(str(adapter)))
    encoder = _dispatch(parsed, device, options)
    # What rebuilds this encoder (Encoder.spec): Retriever.save records it.
    encoder.spec = str(parsed)
    encoder.spec_options = {k: v for k, v in given.items()
                            if v is None or isinstance(v, (bool, int, float, str))}
    return encoder


def _dispatch(spec: EncoderSpec, device: str | None, options: dict[str, Any]) -> Encoder:
    if spec.family == "nyx-lite":
        from nyx.encoders.lite import load_lite

        projection = spec.model or options.pop("projection", None)
        return load_lite(projection=projection, device=device or "cpu", **options)
    if spec.family == "clip":
        from nyx.encoders.clip import ClipEncoder

        source = spec.source
        if source and (Path(source).expanduser().exists() or _looks_like_file(source)):
            return ClipEncoder(spec.model, checkpoint=Path(source).expanduser(), device=device,
                               **options)
        return ClipEncoder(spec.model, pretrained=source or None, device=device, **options)
    if spec.family == "vlm":
        return _vlm(spec.model, device, options)

    text = spec.model
    path = Path(text).expanduser()
    if path.is_file() and path.suffix == ".safetensors":
        from nyx.encoders.lite import load_lite

        return load_lite(projection=path, device=device or "cpu", **options)
    if path.is_dir():
        model_type = _model_type(path)
        if model_type in _VLM_MODEL_TYPES:
            return _vlm(str(path), device, options)
        raise ValueError(f"{path} is a folder but not a known model (config.json model_type="
                         f"{model_type!r}); {SPEC_HELP}")
    if path.exists():
        raise ValueError(f"{path} is not a model: expected a projection .safetensors or a model "
                         f"folder; {SPEC_HELP}")
    if "/" in text and not text.startswith(("/", ".", "~")):
        # A hub id: the Nyx model family is a Qwen2.5-VL embedder.
        return _vlm(text, device, options)
    raise ValueError(f"unknown encoder {text!r}; {SPEC_HELP}")


def remote_reason(spec: str) -> str | None:
    """Why loading ``spec`` may contact a model hub, or ``None`` when it loads from this
    machine only (nyx-lite, a local projection, a local checkpoint or model folder).

    An index folder is data: :class:`~nyx.Retriever` loads the encoder it names only when
    this is ``None``, unless the caller names the encoder or passes ``trust_remote=True``.
    """
    try:
        parsed = EncoderSpec.parse(spec)
    except ValueError as error:
        return f"it is not an encoder spec ({error})"
    if parsed.family == "nyx-lite":
        return None
    if parsed.family == "clip":
        if parsed.source and Path(parsed.source).expanduser().exists():
            return None
        return f"CLIP weights {parsed.source or '(default)'!r} are fetched from a model hub"
    if Path(parsed.model).expanduser().exists():
        return None
    return f"{parsed.model!r} is not on this machine and would be fetched from a model hub"


def _vlm(model: str, device: str | None, options: dict[str, Any]) -> Encoder:
    from nyx.encoders.vlm import VLMEncoder

    return VLMEncoder(model, device=device, **options)


def _model_type(folder: Path) -> str | None:
    config = folder / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError):
        return None


def _looks_like_file(source: str) -> bool:
    return source.endswith((".pt", ".pth", ".bin", ".safetensors")) or "/" in source


def check_local_encoder(spec: str, trust_remote: bool) -> None:
    """Refuse an encoder an index folder names that would be downloaded, unless trusted."""
    reason = None if trust_remote else remote_reason(spec)
    if reason is not None:
        raise ValueError(
            f"this index names encoder {spec!r}: {reason}. An index folder "
            "is not trusted to make Nyx download a model: pass the encoder yourself "
            "(encoder=..., nyx-index --model) or trust_remote=True (--trust-remote)")
