"""A disk cache of frozen image-tower outputs, so that projection epochs never rerun the CNN.

Each entry is keyed by the image's content hash and holds EfficientNet-Lite0's 1280-d pooled
features and its 1,000 ImageNet probabilities (the latter give the ConSE baseline for free).
Entries are appended in ``.npz`` shards; an interrupted extraction keeps every finished shard.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from nyx.content import ImagePart
from nyx.images import ImageLoadError

logger = logging.getLogger(__name__)

#: ``images -> (probabilities (n, 1000), features (n, 1280))``, e.g. ``NyxLite.image_tower.run``.
TowerFn = Callable[[list], tuple[np.ndarray, np.ndarray]]


class FeatureCache:
    """Image features and class probabilities keyed by content hash, stored as npz shards."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, int] = {}
        self._features: list[np.ndarray] = []
        self._probs: list[np.ndarray] = []
        self._features_matrix: np.ndarray | None = None
        self._probs_matrix: np.ndarray | None = None
        self.failed: dict[str, str] = {}
        for shard in sorted(self.folder.glob("shard-*.npz")):
            with np.load(shard) as data:
                self._append(list(data["keys"]), data["features"], data["probs"])

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def _append(self, keys: list[str], features: np.ndarray, probs: np.ndarray) -> None:
        start = sum(len(f) for f in self._features)
        for i, key in enumerate(keys):
            self._rows[str(key)] = start + i
        self._features.append(np.asarray(features, dtype=np.float32))
        self._probs.append(np.asarray(probs, dtype=np.float32))
        self._features_matrix = self._probs_matrix = None

    def add(self, keys: Sequence[str], features: np.ndarray, probs: np.ndarray) -> Path:
        """Store one batch as a new shard (written atomically)."""
        if not (len(keys) == len(features) == len(probs)):
            raise ValueError(f"{len(keys)} keys, {len(features)} feature rows and {len(probs)} "
                             "probability rows must match")
        index = len(list(self.folder.glob("shard-*.npz")))
        path = self.folder / f"shard-{index:05d}.npz"
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, keys=np.asarray(keys), features=features, probs=probs)
        os.replace(tmp, path)
        self._append(list(keys), features, probs)
        return path

    def _matrices(self) -> tuple[np.ndarray, np.ndarray]:
        if self._features_matrix is None or self._probs_matrix is None:
            self._features_matrix = np.concatenate(self._features) if self._features else \
                np.zeros((0, 0), np.float32)
            self._probs_matrix = np.concatenate(self._probs) if self._probs else \
                np.zeros((0, 0), np.float32)
        return self._features_matrix, self._probs_matrix

    def get(self, keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(features, probabilities)`` rows for ``keys``; a missing key is a ``KeyError``."""
        missing = [k for k in keys if k not in self._rows]
        if missing:
            raise KeyError(f"{len(missing)} image(s) not in the feature cache {self.folder} "
                           f"(first: {missing[0]}); run build() over them first")
        rows = np.fromiter((self._rows[k] for k in keys), dtype=np.int64, count=len(keys))
        features, probs = self._matrices()
        return features[rows], probs[rows]

    def build(self, parts: Sequence[ImagePart], load_tower: Callable[[], TowerFn], *,
              batch_size: int = 32, shard_size: int = 512, show_progress: bool = True,
              keys: Sequence[str] | None = None) -> list[str]:
        """Run the tower over every image not cached yet; return the keys of ``parts``.

        ``load_tower`` is called only if there is work, so a fully cached run never loads the
        CNN. Unreadable images are logged, recorded in :attr:`failed` and skipped.
        """
        keys = list(keys) if keys is not None else [image_key(p) for p in parts]
        todo = list({k: p for k, p in zip(keys, parts) if k not in self._rows}.items())
        if not todo:
            return keys
        run = load_tower()
        pending_keys: list[str] = []
        pending: list[tuple[np.ndarray, np.ndarray]] = []
        with tqdm(total=len(todo), desc="image features", unit="img",
                  disable=not show_progress) as bar:
            for start in range(0, len(todo), batch_size):
                batch = todo[start:start + batch_size]
                images, batch_keys = [], []
                for key, part in batch:
                    try:
                        images.append(part.load())
                        batch_keys.append(key)
                    except ImageLoadError as exc:
                        self.failed[key] = str(exc)
                        logger.warning("skipping unreadable image: %s", exc)
                if images:
                    probs, features = run(images)
                    pending.append((features, probs))
                    pending_keys.extend(batch_keys)
                if len(pending_keys) >= shard_size or start + batch_size >= len(todo):
                    if pending_keys:
                        self.add(pending_keys, np.concatenate([f for f, _ in pending]),
                                 np.concatenate([p for _, p in pending]))
                    pending_keys, pending = [], []
                bar.update(len(batch))
        return keys


def image_key(part: ImagePart) -> str:
    """The cache key of an image: its content hash (so moved or renamed files still hit)."""
    return part.digest()[:32]

