"""CLIP-style dual encoders from open_clip: a text tower and an image tower in one space."""

from __future__ import annotations

import difflib
import hashlib
import logging
from pathlib import Path
from typing import Any

import numpy as np

from nyx.content import Item
from nyx.encoders.base import Encoder, resolve_device
from nyx.encoders.fusion import fuse_vectors
from nyx.encoders.spec import EncoderSpec

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "bf16", "pure_fp16", "pure_bf16")
#: Prefixes open_clip resolves itself (a Hub repository or a folder with open_clip_config.json).
SCHEMA_PREFIXES = ("hf-hub:", "local-dir:")
_LIST_MODELS_HINT = "python -c 'import open_clip; print(open_clip.list_models())'"


def import_open_clip() -> Any:
    try:
        import open_clip
    except ImportError as exc:
        raise ImportError(
            "the CLIP encoder needs open_clip: pip install 'nyx-retrieval[clip]'"
        ) from exc
    return open_clip


class ClipEncoder(Encoder):
    """Any open_clip architecture as a Nyx encoder.

    Weights come from a ``pretrained`` tag (downloaded by open_clip, for online users) or a local
    ``checkpoint`` file (a state dict, loaded by open_clip's own checkpoint loader). With neither
    the model is randomly initialised, which is only useful for tests.

    Text parts go through the text tower, image parts through the image tower; an interleaved
    item is the weighted fusion (:func:`~nyx.encoders.fusion.fuse_vectors`) of its text vector
    (all text parts joined, as :attr:`Item.text`) and the mean of its image vectors.

    >>> ClipEncoder("ViT-B-32", pretrained="laion2b_s34b_b79k")          # online
    >>> ClipEncoder("ViT-B-32", checkpoint="weights/vit_b_32.pt")        # offline
    """

    def __init__(self, model: str = "ViT-B-32", pretrained: str | None = None,
                 checkpoint: str | Path | None = None, device: str | None = None,
                 text_weight: float = 0.5, precision: str = "fp32") -> None:
        open_clip = import_open_clip()
        if pretrained and checkpoint is not None:
            raise ValueError("pass either pretrained= (an open_clip tag) or checkpoint= (a local "
                             "file), not both")
        if not 0.0 <= text_weight <= 1.0:
            raise ValueError(f"text_weight must be within [0, 1], got {text_weight}")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        _check_architecture(open_clip, model)
        if pretrained:
            _check_pretrained_tag(open_clip, model, pretrained)

        weights: str | None = pretrained or None
        if checkpoint is not None:
            path = Path(checkpoint).expanduser()
            if not path.is_file():
                raise FileNotFoundError(
                    f"CLIP checkpoint file not found: {path}; pass the path of a state dict saved "
                    "with torch.save(model.state_dict(), path) or a .safetensors file"
                )
            weights = str(path)
            version_tag = "sha256:" + _file_sha256(path)[:12]
        elif pretrained:
            version_tag = pretrained
        else:
            version_tag = "random-init"
            logger.warning(
                "ClipEncoder(%r) has no pretrained= tag and no checkpoint=: the weights are random "
                "and the vectors are meaningless (fine for tests, useless for retrieval)", model
            )

        self.device = resolve_device(device)
        self.model_name = model
        self.text_weight = text_weight
        self.precision = precision
        try:
            # pretrained_text=False: a randomly initialised model must not fetch Hub text towers.
            clip, _, preprocess = open_clip.create_model_and_transforms(
                model, pretrained=weights, precision=precision, device=self.device,
                pretrained_text=False,
            )
        except (RuntimeError, AssertionError, KeyError, ValueError) as exc:
            # open_clip reports a state dict of the wrong shape in several ways.
            if checkpoint is not None:
                raise ValueError(
                    f"checkpoint {weights} does not fit architecture {model!r}: {exc}. Pass the "
                    "model= the checkpoint was trained with"
                ) from exc
            raise
        self.model = clip.eval()
        self.preprocess = preprocess
        self.tokenizer = open_clip.get_tokenizer(model)
        self._input_dtype = open_clip.get_input_dtype(precision)

        self.name = str(EncoderSpec("clip", model))
        suffix = "" if precision == "fp32" else f"+{precision}"
        self.version = f"{model}/{version_tag}{suffix}"
        self.dim = int(self._encode_texts(["a"]).shape[-1])

    def _encode_batch(self, items: list[Item], *, is_query: bool) -> np.ndarray:
        texts = [item.text for item in items]
        text_rows = [i for i, text in enumerate(texts) if text]
        text_vectors = self._encode_texts([texts[i] for i in text_rows])
        text_of = dict(zip(text_rows, text_vectors, strict=True))

        image_owner = [i for i, item in enumerate(items) for _ in item.images]
        image_vectors = self._encode_images([p.load() for item in items for p in item.images])
        images_of: dict[int, list[np.ndarray]] = {}
        for owner, vector in zip(image_owner, image_vectors, strict=True):
            images_of.setdefault(owner, []).append(vector)

        return np.stack([
            fuse_vectors(text_of.get(i), images_of.get(i, []), self.text_weight)
            for i in range(len(items))
        ])

    def _encode_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode():
            features = self.model.encode_text(tokens)
        return features.float().cpu().numpy()

    def _encode_images(self, images: list[Any]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        import torch

        pixels = torch.stack([self.preprocess(image) for image in images])
        pixels = pixels.to(device=self.device, dtype=self._input_dtype)
        with torch.inference_mode():
            features = self.model.encode_image(pixels)
        return features.float().cpu().numpy()


def _check_architecture(open_clip: Any, model: str) -> None:
    if model.startswith(SCHEMA_PREFIXES):
        return
    known = open_clip.list_models()
    if model.replace("/", "-") in known:
        return
    close = difflib.get_close_matches(model, known, n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"unknown open_clip architecture {model!r}.{hint} List the valid names with "
        f"{_LIST_MODELS_HINT}, or register your own config with open_clip.add_model_config(path)"
    )


def _check_pretrained_tag(open_clip: Any, model: str, tag: str) -> None:
    if model.startswith(SCHEMA_PREFIXES):
        return
    tags = open_clip.list_pretrained_tags_by_model(model.replace("/", "-"))
    if tag not in tags:
        listed = ", ".join(tags) if tags else "none"
        raise ValueError(
            f"unknown pretrained tag {tag!r} for {model!r} (known tags: {listed}); for a local "
            "weights file use checkpoint= instead"
        )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
