"""Training the image bridge contrastively into the frozen MiniLM text space.

Inputs are the cached arrays of :mod:`nyx.training.bridge_data`, so a run is a few CPU-seconds per
hundred steps. Each step draws a batch of images, half from one source (hard negatives: icons
against icons, shirts against pullovers) and half from all sources (negatives across sources),
takes one random training caption per image (caption templates, keywords, aliases) and
minimises a symmetric InfoNCE in which images sharing a caption are not each other's negatives.

Two heads: ``bridge`` (:class:`nyx.encoders.bridge.ImageBridge`, ConSE as input and residual)
and ``linear`` (the Linear 1280 -> 384 projection of ``nyx-lite:PROJ``, for comparison).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nyx.encoders.base import l2_normalize
from nyx.encoders.bridge import ImageBridge
from nyx.encoders.conse import ConSE
from nyx.encoders.projection import ImageProjection
from nyx.training.bridge_data import SourceArrays
from nyx.training.evaluation import hit_rates

logger = logging.getLogger(__name__)


@dataclass
class BridgeTrainConfig:
    head: str = "bridge"  # or "linear"
    hidden: int = 512
    steps: int = 500
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.05
    dropout: float = 0.1
    #: Share of each batch drawn from a single source (in-source hard negatives).
    same_source_share: float = 0.5
    #: Weight of keeping ImageNet's knowledge: KL from the tower's class probabilities to the
    #: bridge vector's softmax over the class-name vectors (what protects photos).
    distill: float = 5.0
    distill_temperature: float = 0.02
    #: Factor on the learned ConSE share, applied when the head is exported (more ConSE: the
    #: bridge moves photos less; 2.0 was best of 1, 1.5, 2, 3 on the leave-one-out average).
    conse_boost: float = 2.0
    seed: int = 0


class BridgeHead(nn.Module):
    """The torch twin of :class:`ImageBridge` (or a plain linear projection)."""

    def __init__(self, config: BridgeTrainConfig, feature_mean: np.ndarray,
                 feature_std: np.ndarray, dim: int) -> None:
        super().__init__()
        self.head = config.head
        self.register_buffer("mean", torch.from_numpy(feature_mean))
        self.register_buffer("std", torch.from_numpy(feature_std))
        features = len(feature_mean)
        self.dropout = nn.Dropout(config.dropout)
        if config.head == "linear":
            self.linear = nn.Linear(features, dim)
        elif config.head == "bridge":
            self.fc1 = nn.Linear(features + dim, config.hidden)
            self.fc2 = nn.Linear(config.hidden, dim)
            nn.init.zeros_(self.fc2.weight)  # start exactly at ConSE
            nn.init.zeros_(self.fc2.bias)
            self.conse_scale = nn.Parameter(torch.ones(()))
        else:
            raise ValueError(f"unknown head {config.head!r}: 'bridge' or 'linear'")

    def forward(self, features: torch.Tensor, conse: torch.Tensor) -> torch.Tensor:
        if self.head == "linear":
            return F.normalize(self.linear(self.dropout(features)), dim=-1)
        x = torch.cat([(features - self.mean) / self.std, conse], dim=1)
        hidden = F.gelu(self.fc1(self.dropout(x)), approximate="tanh")
        return F.normalize(self.conse_scale * conse + self.fc2(hidden), dim=-1)

    def export(self, meta: dict[str, object],
               conse_boost: float = 1.0) -> ImageBridge | ImageProjection:
        def arr(t: torch.Tensor) -> np.ndarray:
            return t.detach().cpu().numpy().astype(np.float32)

        if self.head == "linear":
            return ImageProjection(arr(self.linear.weight), arr(self.linear.bias), dict(meta))
        return ImageBridge(arr(self.mean), arr(self.std), arr(self.fc1.weight),
                           arr(self.fc1.bias), arr(self.fc2.weight), arr(self.fc2.bias),
                           arr(self.conse_scale) * np.float32(conse_boost), dict(meta))


def conse_vectors(probs: np.ndarray, conse: ConSE) -> np.ndarray:
    return l2_normalize(conse(probs))


def image_vectors(model: ImageBridge | ImageProjection | None, source: SourceArrays,
                  conse: ConSE) -> np.ndarray:
    """Unit image vectors of a source through a trained head (``None``: plain ConSE)."""
    base = conse_vectors(source.probs, conse)
    if model is None:
        return base
    if isinstance(model, ImageProjection):
        return l2_normalize(model(source.features))
    return model(source.features, base)


def _contrastive(images: torch.Tensor, texts: torch.Tensor, labels: torch.Tensor,
                 temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE; pairs with the same caption label are positives of each other."""
    logits = images @ texts.T / temperature
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool)
    # Another image with the same caption is neither a positive nor a negative.
    masked = logits.masked_fill(same & ~eye, torch.finfo(logits.dtype).min)
    targets = torch.arange(len(labels))
    return 0.5 * (F.cross_entropy(masked, targets) + F.cross_entropy(masked.T, targets))


def train_head(sources: Sequence[SourceArrays], conse: ConSE,
               config: BridgeTrainConfig | None = None) -> ImageBridge | ImageProjection:
    """Train on the ``train`` split of ``sources``; returns the exported numpy head."""
    config = config or BridgeTrainConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train = [s.take("train") for s in sources]
    train = [s for s in train if len(s)]
    if not train:
        raise ValueError("no training images in the given sources")
    features = np.concatenate([s.features for s in train])
    conse_all = np.concatenate([conse_vectors(s.probs, conse) for s in train])
    offsets = np.cumsum([0] + [len(s) for s in train])
    # Caption vectors of all sources in one matrix, rows per image shifted accordingly.
    text_offsets = np.cumsum([0] + [len(s.caption_vectors) for s in train])
    texts = torch.from_numpy(np.concatenate([s.caption_vectors for s in train]))
    # Each image's captions are consecutive rows: (first row, count) per image.
    caption_start = np.asarray([rows[0] + text_offsets[i] for i, s in enumerate(train)
                                for rows in s.caption_rows])
    caption_count = np.asarray([len(rows) for s in train for rows in s.caption_rows])
    caption_ids = {c: i for i, c in enumerate(dict.fromkeys(c for s in train for c in s.captions))}
    labels_all = np.asarray([caption_ids[c] for s in train for c in s.captions])
    mean = features.mean(axis=0)
    std = features.std(axis=0) + 1e-3
    model = BridgeHead(config, mean.astype(np.float32), std.astype(np.float32),
                       conse_all.shape[1])
    feats_t, conse_t = torch.from_numpy(features), torch.from_numpy(conse_all)
    probs_t = torch.from_numpy(np.concatenate([s.probs for s in train]))
    class_vectors = torch.from_numpy(l2_normalize(conse.class_vectors))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr,
                                                   total_steps=config.steps, pct_start=0.1)
    # Sources are drawn with weight sqrt(size): small sources are not drowned out.
    weights = np.sqrt(np.diff(offsets).astype(np.float64))
    weights /= weights.sum()
    source_of = np.searchsorted(offsets, np.arange(offsets[-1]), side="right") - 1
    per_image = weights[source_of] / np.diff(offsets)[source_of]
    per_image /= per_image.sum()
    model.train()
    for step in range(config.steps):
        n_same = int(config.batch_size * config.same_source_share)
        source = rng.choice(len(train), p=weights)
        same = rng.choice(np.arange(offsets[source], offsets[source + 1]),
                          size=min(n_same, int(offsets[source + 1] - offsets[source])),
                          replace=False)
        mixed = rng.choice(offsets[-1], size=config.batch_size - len(same), p=per_image)
        rows = np.unique(np.concatenate([same, mixed]))
        text_rows = caption_start[rows] + (rng.random(len(rows)) * caption_count[rows]).astype(
            np.int64)
        images = model(feats_t[rows], conse_t[rows])
        loss = _contrastive(images, texts[text_rows], torch.from_numpy(labels_all[rows]),
                            config.temperature)
        if config.distill > 0:
            log_q = F.log_softmax(images @ class_vectors.T / config.distill_temperature, dim=-1)
            loss = loss + config.distill * F.kl_div(log_q, probs_t[rows], reduction="batchmean")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 250 == 0 or step == config.steps - 1:
            logger.info("step %d loss %.4f", step, float(loss.detach()))
    model.eval()
    meta = {"config": asdict(config), "sources": [s.name for s in train],
            "images": int(offsets[-1])}
    return model.export(meta, config.conse_boost)


def evaluate_source(vectors: np.ndarray, source: SourceArrays,
                    ks: Sequence[int] = (1, 10)) -> dict[str, float]:
    """Text->image and image->text recall on one source's images (``source`` already split).

    Queries are the distinct captions; an image is relevant to its caption (and every image
    sharing that caption). Image->text ranks the source's distinct captions for each image.
    """
    captions = list(dict.fromkeys(source.captions))
    index = {c: i for i, c in enumerate(captions)}
    first = {c: source.captions.index(c) for c in captions}
    caption_vectors = source.query_vectors[[first[c] for c in captions]]
    of_image = [index[c] for c in source.captions]
    images_of: list[set[int]] = [set() for _ in captions]
    for row, caption in enumerate(of_image):
        images_of[caption].add(row)
    t2i = hit_rates(caption_vectors, vectors, images_of, ks)
    i2t = hit_rates(vectors, caption_vectors, [{c} for c in of_image], ks)
    out = {f"t2i_{k}": v for k, v in t2i.items()}
    out.update({f"i2t_{k}": v for k, v in i2t.items()})
    out.update({"images": len(source), "captions": len(captions)})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nyx.training.bridge --out FILE``: train on every source and write the bridge."""
    import argparse

    from nyx.training.bridge_data import load_source_arrays

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--out", required=True, help="safetensors file to write")
    parser.add_argument("--sources", nargs="*", help="source names (default: all available)")
    parser.add_argument("--steps", type=int, default=BridgeTrainConfig.steps)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    sources, lite = load_source_arrays(args.sources)
    bridge = train_head(sources, lite.conse,  # type: ignore[attr-defined]
                        BridgeTrainConfig(steps=args.steps, seed=args.seed))
    path = bridge.save(args.out)
    import hashlib

    logger.info("wrote %s (sha256 %s)", path, hashlib.sha256(path.read_bytes()).hexdigest())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
