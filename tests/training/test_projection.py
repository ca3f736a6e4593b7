"""The nyx-lite image projection trained on real OpenClipart pairs beats its random init on
held-out captions, and the exported checkpoint is what ``load_encoder("nyx-lite:...")`` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nyx.content import ImagePart
from nyx.training.checkpoint import seed_everything
from nyx.training.embedders.projection import LiteProjectionEmbedder
from nyx.training.evaluation import evaluate_embedder
from nyx.training.evidence.openclipart_data import find_pairs, split_by_title, write_splits
from nyx.training.jsonl import read_jsonl
from nyx.training.trainer import ContrastiveTrainer
from tests.helpers import require_installed_data
from tests.training.conftest import OPENCLIPART, small_config


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_installed_data(OPENCLIPART / "svg", "openclipart-png openclipart-svg")
    pairs = find_pairs(OPENCLIPART, categories=["animals", "food"])[::6]  # ~100 images
    parts = split_by_title(pairs, {"train": 0.65, "test": 0.35}, seed=0)
    return write_splits(parts, tmp_path_factory.mktemp("clipart"))


@pytest.mark.data
def test_trained_projection_beats_random_init(splits: dict[str, Path], tmp_path: Path,
                                              lite_no_ocr: Any) -> None:
    from nyx.training.data import load_pairs

    config = small_config(
        tmp_path, data={"train": str(splits["train"]), "hard_negatives": 0},
        optim={"max_steps": 40, "batch_size": 32, "lr": 3e-3, "weight_decay": 0.01,
               "schedule": "cosine"},
        loss={"temperature": 0.05})
    seed_everything(0)
    embedder = LiteProjectionEmbedder(tmp_path / "features", lite_no_ocr, feature_dropout=0.1)
    train = load_pairs(splits["train"], cache_dir=tmp_path / "cache")
    test = list(load_pairs(splits["test"], cache_dir=tmp_path / "cache"))
    assert len(train) > 50 and len(test) > 25
    trainer = ContrastiveTrainer(config, embedder, train, test)
    trainer.prepare()  # cache the frozen image features once
    before = evaluate_embedder(embedder, test, ks=(1, 10))
    result = trainer.train()
    after = evaluate_embedder(embedder, test, ks=(1, 10))
    assert result.losses[-1] < result.losses[0]
    assert after["recall@1"] > before["recall@1"] + 0.1, (before, after)
    assert after["recall@10"] > before["recall@10"], (before, after)

    # The exported projection, loaded by nyx, embeds images exactly as the trained embedder.
    from nyx import load_encoder

    encoder = load_encoder(f"nyx-lite:{result.exported}", ocr=False)
    images = [r["positive"]["images"][0] for r in read_jsonl(splits["test"])[:3]]
    from nyx.training.data import to_item

    items = [to_item(row["positive"]) for row in test[:3]]
    assert [i.images[0].path for i in items] == [Path(p) for p in images]
    embedder.eval()  # no feature dropout
    expected = embedder.embed(items, is_query=False).detach().numpy()
    np.testing.assert_allclose(encoder.encode_documents([ImagePart(p) for p in images]),
                               expected, atol=1e-5)
