"""EncoderSpec: the one parser of encoder names, and what reads them through it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nyx.encoders import EncoderSpec, load_encoder
from nyx.encoders.registry import remote_reason
from nyx.relevance import calibration_for

VALID = {
    "nyx-lite": EncoderSpec("nyx-lite"),
    "nyx-lite:runs/final/projection.safetensors":
        EncoderSpec("nyx-lite", "runs/final/projection.safetensors"),
    "clip:ViT-B-32": EncoderSpec("clip", "ViT-B-32"),
    "clip:ViT-B-32@laion2b_s34b_b79k": EncoderSpec("clip", "ViT-B-32", "laion2b_s34b_b79k"),
    "clip:ViT-B-32@/models/clip.pt": EncoderSpec("clip", "ViT-B-32", "/models/clip.pt"),
    "vlm:/models/qwen2-vl": EncoderSpec("vlm", "/models/qwen2-vl"),
    "vlm:SnowNation/Nyx": EncoderSpec("vlm", "SnowNation/Nyx"),
    "SnowNation/Nyx": EncoderSpec("", "SnowNation/Nyx"),
    "./runs/a:b/projection.safetensors": EncoderSpec("", "./runs/a:b/projection.safetensors"),
    "C:/models/qwen": EncoderSpec("", "C:/models/qwen"),
}


@pytest.mark.parametrize("text", sorted(VALID))
def test_parse_and_round_trip(text: str) -> None:
    spec = EncoderSpec.parse(text)
    assert spec == VALID[text]
    assert str(spec) == text
    assert EncoderSpec.parse(str(spec)) == spec


def test_parse_strips_and_takes_paths() -> None:
    assert EncoderSpec.parse("  nyx-lite \n") == EncoderSpec("nyx-lite")
    assert EncoderSpec.parse(Path("models/x")) == EncoderSpec("", "models/x")


@pytest.mark.parametrize(("text", "message"), [
    ("", "empty encoder spec"),
    ("   ", "empty encoder spec"),
    ("st:all-MiniLM-L6-v2", "unknown encoder family 'st'"),
    ("open_clip:ViT-B-32/laion2b", "unknown encoder family 'open_clip'"),
    ("clip:", "ends at its colon"),
    ("vlm:", "ends at its colon"),
    ("nyx-lite:", "ends at its colon"),
    ("clip", "needs an architecture"),
    ("vlm", "needs a model"),
    ("clip:ViT-B-32@", "ends at its '@'"),
])
def test_a_bad_spec_is_a_value_error_naming_it(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        EncoderSpec.parse(text)
    assert "known encoders" in str(error.value) or "'@'" in message


def test_parts_are_checked_when_built_directly() -> None:
    with pytest.raises(ValueError, match="unknown encoder family 'st'"):
        EncoderSpec("st", "x")
    with pytest.raises(ValueError, match="only clip: specs take an @source"):
        EncoderSpec("vlm", "x", "tag")


def test_readers_of_specs_go_through_the_parser() -> None:
    with pytest.raises(ValueError, match="unknown encoder family 'st'"):
        load_encoder("st:all-MiniLM-L6-v2")
    assert remote_reason("nyx-lite:anything.safetensors") is None
    assert "model hub" in (remote_reason("clip:ViT-B-32@openai") or "")
    assert "not an encoder spec" in (remote_reason("st:x") or "")
    assert calibration_for("nyx-lite:p.safetensors", "dense") is not None
    assert calibration_for("my:custom encoder", "dense") is None


def test_kind_is_what_one_index_must_keep() -> None:
    kinds = {text: EncoderSpec.parse(text).kind for text in VALID}
    assert kinds["nyx-lite"] == kinds["nyx-lite:runs/final/projection.safetensors"] == "nyx-lite"
    assert kinds["clip:ViT-B-32"] == kinds["clip:ViT-B-32@/models/clip.pt"] == "clip"
    assert kinds["SnowNation/Nyx"] == "SnowNation/Nyx" != kinds["vlm:SnowNation/Nyx"]
