"""The shipped image bridge: loaded offline, checksum enforced, opt-in (``bridge="trained"``);
the default ``bridge="conse"`` reproduces the vectors of nyx-lite before the bridge; indexes
built before the encoder's version changed re-embed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nyx import load_encoder
from nyx.builder import BuildOptions, build_index
from nyx.encoders.bridge import (
    SHIPPED_BRIDGE,
    SHIPPED_BRIDGE_SHA256,
    BridgeFileError,
    ImageBridge,
    load_shipped_bridge,
)
from nyx.retriever import Retriever
from tests.helpers import render_text, skimage_photo

REFERENCE = Path(__file__).parent / "data" / "lite_conse_reference.npz"
#: nyx-lite's version string before the bridge shipped (what existing indexes recorded).
OLD_VERSION = "0.1;minilm-l6-v2;effnet-lite0;conse-T10;ocr0.75+respace;tw0.5"
ROOT = Path(__file__).resolve().parents[2]


def test_shipped_bridge_matches_its_pinned_checksum() -> None:
    bridge = load_shipped_bridge()
    assert bridge.out_dim == 384 and bridge.feature_dim == 1280
    assert SHIPPED_BRIDGE.stat().st_size < 8 * 2**20
    assert bridge.meta["sources"]  # trained on named sources, recorded in the file


def test_a_changed_bridge_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "bridge.safetensors"
    shutil.copy(SHIPPED_BRIDGE, copy)
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(BridgeFileError, match="sha256"):
        ImageBridge.load(copy, sha256=SHIPPED_BRIDGE_SHA256)
    with pytest.raises(BridgeFileError, match="not found"):
        ImageBridge.load(tmp_path / "missing.safetensors")


def test_shipped_bridge_loads_without_network() -> None:
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not available (needs root or user namespaces)")
    code = ("from nyx import load_encoder; from tests.helpers import skimage_photo; "
            "lite = load_encoder('nyx-lite', ocr=False, bridge='trained'); "
            "v = lite.encode_documents([skimage_photo('coffee')]); "
            "assert lite.bridge is not None and v.shape == (1, 384); print('ok', lite.version)")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(["unshare", "-n", sys.executable, "-c", code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ok 0.1;minilm-l6-v2;effnet-lite0;bridge-" in result.stdout


def test_the_trained_bridge_is_opt_in(lite) -> None:
    trained = load_encoder("nyx-lite", bridge="trained")
    assert trained.bridge is not None
    assert f"bridge-{SHIPPED_BRIDGE_SHA256[:12]}" in trained.version
    assert lite.config.bridge == "conse" and lite.bridge is None and "conse-T10" in lite.version
    photo = skimage_photo("chelsea")
    assert float(trained.encode_documents([photo])[0] @ lite.encode_documents([photo])[0]) < 0.999
    with pytest.raises(ValueError, match="bridge"):
        load_encoder("nyx-lite", bridge="clip")


def test_conse_bridge_keeps_the_old_vectors() -> None:
    """Vectors written by nyx-lite before the bridge (photos, a sign read by OCR, a text)."""
    reference = np.load(REFERENCE)
    conse = load_encoder("nyx-lite", bridge="conse")
    names = ["coffee", "chelsea", "rocket", "astronaut", "camera"]
    items = [skimage_photo(n) for n in names] + [render_text("Closed for lunch until two"),
                                                 "a cup of coffee"]
    np.testing.assert_allclose(conse.encode_documents(items), reference["vectors"], atol=1e-5)
    assert str(reference["version"]) == OLD_VERSION


def test_an_index_built_before_the_bridge_re_embeds_its_images(lite, tmp_path: Path) -> None:
    corpus, out = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    skimage_photo("rocket").save(corpus / "rocket.png")
    Image.fromarray(np.asarray(skimage_photo("coffee"))).save(corpus / "coffee.jpg")
    (corpus / "note.txt").write_text("Espresso is brewed by forcing hot water through coffee.")
    options = BuildOptions(model=lite, show_progress=False)
    first = build_index(corpus, out, options)
    generation = out / first.generation
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["encoder"]["version"] = OLD_VERSION  # as the release before the bridge wrote it
    (generation / "manifest.json").write_text(json.dumps(manifest))

    second = build_index(corpus, out, options)
    assert second.embedded == 3 and second.generation != first.generation
    assert any(f"{OLD_VERSION} -> {lite.version}" in note for _, note in second.notes)
    with Retriever.load(out) as retriever:
        assert retriever.encoder.version == lite.version
        assert retriever.search("a rocket launch", k=1, mode="dense")[0].id.startswith("rocket")
