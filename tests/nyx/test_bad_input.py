"""Bad input gets errors that name the problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from nyx import ImageLoadError, Item, load_encoder, load_image


def test_missing_file_named(lite, tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(ImageLoadError, match="nope.png"):
        lite.encode_documents(Item.of(missing))


def test_corrupt_image_named(lite, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ImageLoadError, match="broken.jpg"):
        lite.encode_documents(Item.of(bad))


def test_truncated_png_named(tmp_path):
    path = tmp_path / "cut.png"
    Image.new("RGB", (300, 300), "red").save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageLoadError, match="cut.png"):
        load_image(path)


def test_decompression_bomb_refused(tmp_path):
    path = tmp_path / "huge.png"
    Image.new("1", (12000, 12000)).save(path)  # 144 Mpx, tiny on disk
    with pytest.raises(ImageLoadError, match="huge.png.*pixels"):
        load_image(path)


def test_large_image_downscaled_and_exif_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    image = Image.new("RGB", (3000, 1000), "blue")
    exif = image.getexif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise
    image.save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.size == (342, 1024) or loaded.size == (341, 1024)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_text_refused(text):
    with pytest.raises(ValueError, match="empty text"):
        Item.of(text)


@pytest.mark.parametrize("value", [42, 3.5, {"text": "x"}, None])
def test_unsupported_type_refused(lite, value):
    with pytest.raises(TypeError, match="unsupported"):
        lite.encode_documents([[value]])


def test_unknown_encoder_names_providers():
    with pytest.raises(ValueError, match="nyx-lite.*clip.*vlm"):
        load_encoder("no-such-model")


def test_non_model_path_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match="not a model"):
        load_encoder(str(tmp_path / "notes.txt"))


def test_missing_projection_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="proj.safetensors"):
        load_encoder(f"nyx-lite:{tmp_path / 'proj.safetensors'}")


def test_bad_batch_size(lite):
    with pytest.raises(ValueError, match="batch_size"):
        lite.encode_documents(["x"], batch_size=0)


def test_item_round_trip(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8)).save(path)
    item = Item(["caption", Path(path)], {"k": 1}, "doc-1")
    again = Item.from_dict(item.to_dict())
    assert again.to_dict() == item.to_dict()
    assert again.content_hash() == item.content_hash()
    assert item.modality == "interleaved"
