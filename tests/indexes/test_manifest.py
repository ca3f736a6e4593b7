from __future__ import annotations

import json

import pytest

from nyx.indexes import BackendInfo, EncoderInfo, EncoderMismatchError, Manifest


def make_manifest() -> Manifest:
    return Manifest(
        encoder=EncoderInfo("nyx-lite", "0.1.0", 384),
        backend=BackendInfo("faiss", {"kind": "hnsw", "hnsw_m": 32}),
        corpus_root="/data/corpus",
        sources={"a.md": "e3b0c442", "img/b.png": "9f86d081"},
        counts={"documents": 2, "vectors": 5},
    )


def test_save_load_round_trip_in_folder_and_file(tmp_path):
    manifest = make_manifest()
    written = manifest.save(tmp_path)
    assert written == tmp_path / "manifest.json"
    data = json.loads(written.read_text())
    assert data["format_version"] == 1 and data["encoder"]["dim"] == 384
    assert Manifest.load(tmp_path) == manifest
    manifest.save(tmp_path / "other.json")
    assert Manifest.load(tmp_path / "other.json") == manifest


def test_save_touches_updated_but_keeps_created(tmp_path):
    manifest = make_manifest()
    manifest.created = manifest.updated = "2020-01-01T00:00:00+00:00"
    manifest.save(tmp_path)
    loaded = Manifest.load(tmp_path)
    assert loaded.created == "2020-01-01T00:00:00+00:00"
    assert loaded.updated > loaded.created
    manifest.updated = "2021-06-01T00:00:00+00:00"
    manifest.save(tmp_path, touch=False)
    assert Manifest.load(tmp_path).updated == "2021-06-01T00:00:00+00:00"


def test_check_encoder_accepts_the_builder():
    manifest = make_manifest()
    manifest.check_encoder("nyx-lite", "0.1.0", 384)
    manifest.check_encoder("nyx-lite")


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("nyx-clip", "1.0", 512), "name 'nyx-clip' != 'nyx-lite'"),
        (("nyx-lite", "0.2.0", 384), "version '0.2.0' != '0.1.0'"),
        (("nyx-lite", None, 768), "dim 768 != 384"),
    ],
)
def test_check_encoder_mismatch_explains_what_to_do(args, problem):
    with pytest.raises(EncoderMismatchError) as info:
        make_manifest().check_encoder(*args)
    message = str(info.value)
    assert "built with encoder nyx-lite (version 0.1.0), dim 384" in message
    assert problem in message
    # the Python way first (the old text said "pass --model nyx-lite" to Python users too)
    assert "search with nyx-lite" in message and "Retriever.load(path) without encoder=" in message
    assert "nyx-index without --model" in message and "build a new index folder" in message


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest"):
        Manifest.load(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Manifest.load(tmp_path)
    data = make_manifest().to_dict() | {"format_version": 99}
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="newer"):
        Manifest.load(tmp_path)
