"""ClipEncoder on a real open_clip architecture with random weights (no download)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from nyx.content import ImagePart, Item
from tests.helpers import skimage_photo

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from nyx.encoders.clip import ClipEncoder  # noqa: E402

TINY = "nyx-test-tiny-vit"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real open_clip ViT/text-transformer CLIP, registered under a tiny custom config."""
    config_dir = tmp_path_factory.mktemp("open_clip_configs")
    (config_dir / f"{TINY}.json").write_text(json.dumps(TINY_CONFIG))
    open_clip.add_model_config(config_dir)
    return TINY


@pytest.fixture(scope="module")
def checkpoint(tiny_arch: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = open_clip.create_model(tiny_arch)
    path = tmp_path_factory.mktemp("clip") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def encoder(tiny_arch: str, checkpoint: Path) -> ClipEncoder:
    return ClipEncoder(tiny_arch, checkpoint=checkpoint, device="cpu")


@pytest.fixture(scope="module")
def photos() -> dict[str, object]:
    return {name: skimage_photo(name) for name in ("astronaut", "coffee", "chelsea")}


def test_attributes(encoder: ClipEncoder, checkpoint: Path) -> None:
    assert encoder.dim == TINY_CONFIG["embed_dim"]
    assert encoder.name == f"clip:{TINY}"
    assert encoder.device == "cpu"
    assert "sha256:" in encoder.version and TINY in encoder.version


def test_checkpoint_round_trip_gives_identical_vectors(tiny_arch: str, checkpoint: Path,
                                                       encoder: ClipEncoder, photos) -> None:
    again = ClipEncoder(tiny_arch, checkpoint=checkpoint, device="cpu")
    items = ["a photo of an astronaut", photos["coffee"], ["a cat", photos["chelsea"]]]
    np.testing.assert_array_equal(encoder.encode_documents(items), again.encode_documents(items))
    assert again.version == encoder.version

    reference = open_clip.create_model(tiny_arch)
    reference.load_state_dict(torch.load(checkpoint))
    for name, param in reference.state_dict().items():
        torch.testing.assert_close(encoder.model.state_dict()[name], param)


def test_shapes_and_unit_norms(encoder: ClipEncoder, photos) -> None:
    items = ["a photo of an astronaut", "a cup of coffee", photos["astronaut"],
             Item(["an interleaved item", ImagePart(photos["coffee"]), "with two images",
                   ImagePart(photos["chelsea"])])]
    vectors = encoder.encode_documents(items)
    assert vectors.shape == (4, encoder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert encoder.encode_queries([]).shape == (0, encoder.dim)


def test_batch_equals_one_by_one(encoder: ClipEncoder, photos) -> None:
    items = ["short", "a much longer text about a rocket lifting off", photos["astronaut"],
             photos["coffee"], ["coffee", photos["coffee"]]]
    batched = encoder.encode_documents(items, batch_size=5)
    single = np.concatenate([encoder.encode_documents([item]) for item in items])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_modalities_use_their_towers(encoder: ClipEncoder, photos) -> None:
    import torch.nn.functional as F

    text, image = "a cup of coffee", photos["coffee"]
    tokens = encoder.tokenizer([text])
    pixels = encoder.preprocess(image).unsqueeze(0)
    with torch.inference_mode():
        expected_text = F.normalize(encoder.model.encode_text(tokens), dim=-1).numpy()
        expected_image = F.normalize(encoder.model.encode_image(pixels), dim=-1).numpy()
    np.testing.assert_allclose(encoder.encode_queries(text), expected_text, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_documents(image), expected_image, atol=1e-5)

    fused = encoder.encode_documents([[text, image]])[0]
    mean = (expected_text[0] + expected_image[0]) / 2
    np.testing.assert_allclose(fused, mean / np.linalg.norm(mean), atol=1e-5)


def test_text_weight_moves_the_fused_vector(tiny_arch: str, checkpoint: Path, photos) -> None:
    text_only = ClipEncoder(tiny_arch, checkpoint=checkpoint, device="cpu", text_weight=1.0)
    item = ["a cup of coffee", photos["coffee"]]
    np.testing.assert_allclose(text_only.encode_documents([item]),
                               text_only.encode_documents("a cup of coffee"), atol=1e-5)


def test_random_init_warns(tiny_arch: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="nyx.encoders.clip"):
        encoder = ClipEncoder(tiny_arch, device="cpu")
    assert "meaningless" in caplog.text
    assert encoder.version.endswith("random-init")


def test_missing_checkpoint_names_the_path(tiny_arch: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "weights.pt"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        ClipEncoder(tiny_arch, checkpoint=missing)


def test_unknown_architecture_says_how_to_list_names() -> None:
    with pytest.raises(ValueError, match=r"open_clip\.list_models\(\)") as info:
        ClipEncoder("ViT-B-33")
    assert "ViT-B-32" in str(info.value)  # a close match is suggested


def test_mismatched_checkpoint_is_explained(checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="does not fit architecture"):
        ClipEncoder("ViT-S-32", checkpoint=checkpoint)


def test_bad_arguments(tiny_arch: str, checkpoint: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        ClipEncoder(tiny_arch, pretrained="openai", checkpoint=checkpoint)
    with pytest.raises(ValueError, match="unknown pretrained tag"):
        ClipEncoder("ViT-B-32", pretrained="no-such-tag")
    with pytest.raises(ValueError, match="precision"):
        ClipEncoder(tiny_arch, checkpoint=checkpoint, precision="fp8")
    with pytest.raises(ValueError, match="text_weight"):
        ClipEncoder(tiny_arch, checkpoint=checkpoint, text_weight=2.0)


def test_builtin_architecture(photos) -> None:
    """A stock open_clip config (ViT-S-32, 384-d) builds and encodes without any download."""
    encoder = ClipEncoder("ViT-S-32", device="cpu")
    vectors = encoder.encode_documents(["an astronaut", photos["astronaut"]])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
