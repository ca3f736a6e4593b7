"""Bridge training: the numpy export computes what the torch head trained, training learns a
held-out mapping, recall is counted per caption, and the sources parse real package data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nyx.encoders.base import l2_normalize
from nyx.encoders.bridge import ImageBridge
from nyx.encoders.conse import ConSE
from nyx.training.bridge import (
    BridgeHead,
    BridgeTrainConfig,
    evaluate_source,
    image_vectors,
    train_head,
)
from nyx.training.bridge_data import SourceArrays
from nyx.training.image_sources import ICON_ROOT, icon_caption, icon_theme
from tests.helpers import require_installed_data


def synthetic_source(name: str, n: int, seed: int, mixing: np.ndarray,
                     classes: np.ndarray) -> SourceArrays:
    """Images whose features are a fixed linear image of their caption vector (plus noise)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(classes), size=n)
    captions = [f"caption {i}" for i in labels]
    text = classes[labels]
    features = np.maximum(text @ mixing + 0.05 * rng.normal(size=(n, mixing.shape[1])), 0)
    probs = rng.dirichlet(np.ones(20), size=n).astype(np.float32)
    split = np.asarray(["train"] * (n - n // 4) + ["eval"] * (n // 4))
    return SourceArrays(name, features.astype(np.float32), probs, split, captions,
                        [np.asarray([i]) for i in range(n)], text.astype(np.float32),
                        text.astype(np.float32))


@pytest.fixture(scope="module")
def world() -> tuple[list[SourceArrays], ConSE]:
    rng = np.random.default_rng(0)
    dim, features = 16, 48
    classes = l2_normalize(rng.normal(size=(40, dim)))
    mixing = rng.normal(size=(dim, features))
    sources = [synthetic_source(f"s{i}", 160, i, mixing, classes) for i in range(3)]
    conse = ConSE(l2_normalize(rng.normal(size=(20, dim))), top_t=3)
    return sources, conse


def test_numpy_bridge_equals_torch_head(world, tmp_path: Path) -> None:
    sources, conse = world
    config = BridgeTrainConfig(hidden=32, steps=3, batch_size=64)
    features = sources[0].features
    head = BridgeHead(config, features.mean(0), features.std(0) + 1e-3, 16)
    torch.nn.init.normal_(head.fc2.weight, std=0.1)  # not the ConSE identity of the init
    head.eval()
    conse_vectors = l2_normalize(conse(sources[0].probs))
    with torch.no_grad():
        expected = head(torch.from_numpy(features), torch.from_numpy(conse_vectors)).numpy()
    bridge = head.export({"test": True})
    assert isinstance(bridge, ImageBridge)
    np.testing.assert_allclose(bridge(features, conse_vectors), expected, atol=1e-5)
    # float16 storage of the two matrices moves vectors by far less than retrieval notices.
    loaded = ImageBridge.load(bridge.save(tmp_path / "b.safetensors"))
    assert loaded.meta == {"test": True}
    np.testing.assert_allclose(loaded(features, conse_vectors), expected, atol=2e-3)


def test_untrained_bridge_is_conse(world) -> None:
    sources, conse = world
    config = BridgeTrainConfig(hidden=32)
    head = BridgeHead(config, np.zeros(48, np.float32), np.ones(48, np.float32), 16)
    bridge = head.export({})
    np.testing.assert_allclose(image_vectors(bridge, sources[0], conse),
                               image_vectors(None, sources[0], conse), atol=1e-6)


def test_training_transfers_to_a_held_out_source(world) -> None:
    sources, conse = world
    held_out = sources[2].take("eval")
    bridge = train_head(sources[:2], conse, BridgeTrainConfig(hidden=64, steps=150, distill=0.0,
                                                              batch_size=64, lr=3e-3))
    trained = evaluate_source(image_vectors(bridge, held_out, conse), held_out)
    baseline = evaluate_source(image_vectors(None, held_out, conse), held_out)
    assert bridge.meta["sources"] == ["s0", "s1"]
    assert trained["t2i_recall@1"] > baseline["t2i_recall@1"] + 0.3
    assert trained["i2t_recall@1"] > baseline["i2t_recall@1"] + 0.3


def test_recall_counts_every_image_of_a_caption() -> None:
    vectors = np.asarray([[1, 0, 0], [0, 0.6, 0.8], [0, 0, 1]], np.float32)
    source = SourceArrays("t", np.zeros((3, 2), np.float32), np.zeros((3, 4), np.float32),
                          np.asarray(["eval"] * 3), ["a", "a", "b"], [], np.zeros((0, 3)),
                          np.asarray([[1, 0, 0], [1, 0, 0], [0, 0, 1]], np.float32))
    result = evaluate_source(vectors, source)
    assert result["captions"] == 2 and result["images"] == 3
    assert result["t2i_recall@1"] == 1.0
    assert result["i2t_recall@1"] == pytest.approx(2 / 3)  # image 1 is closer to "b"


def test_icon_names_become_captions() -> None:
    assert icon_caption("media-playback-start") == "media playback start"
    assert icon_caption("edit-copy-symbolic.symbolic") == "edit copy"
    assert icon_caption("x-office-document") == "office document"


@pytest.mark.data
def test_adwaita_icons_are_split_by_caption() -> None:
    require_installed_data(ICON_ROOT / "Adwaita" / "48x48", "adwaita-icon-theme")
    items = icon_theme("adwaita", max_train=50, max_eval=20)
    train = {i.caption for i in items if i.split == "train"}
    held_out = {i.caption for i in items if i.split == "eval"}
    assert len(items) == 70 and not train & held_out
    assert all(Path(str(i.image)).is_file() for i in items)
