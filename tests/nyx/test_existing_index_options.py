"""Options that only a new index can take are refused on an existing one, before any model
is loaded or downloaded, with the flag that does what the user wants."""

from __future__ import annotations

import sys
import time

import pytest

from nyx import load_encoder
from nyx.builder import BuildOptions, build_index
from nyx.cli.index import main
from nyx.indexes import EncoderMismatchError
from nyx.retriever import Retriever


@pytest.fixture(scope="module")
def built(lite, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "a.txt").write_text("Owls hunt at night and sleep during the day.")
    out = tmp_path_factory.mktemp("idx") / "a.nyx"
    build_index(corpus, out, BuildOptions(model=lite, show_progress=False))
    return corpus, out


def test_another_backend_is_refused_not_ignored(built, capsys):
    corpus, out = built
    with pytest.raises(ValueError, match="keeps its vectors in faiss; --backend qdrant"):
        build_index(corpus, out, BuildOptions(backend="qdrant", show_progress=False))
    assert main(["build", str(corpus), "-o", str(out), "--backend", "qdrant"]) == 2
    assert "-o NEW_FOLDER --backend qdrant" in capsys.readouterr().err


def test_another_encoder_family_is_refused_before_any_download(built, capsys):
    corpus, out = built
    had_clip = "open_clip" in sys.modules
    start = time.perf_counter()
    assert main(["build", str(corpus), "-o", str(out), "--model", "clip:ViT-B-32@openai"]) == 2
    err = capsys.readouterr().err
    assert time.perf_counter() - start < 10
    assert "built with encoder nyx-lite" in err and "Leave --model out" in err
    assert len(err.strip().splitlines()) == 1  # one line, no retries, no traceback
    assert had_clip or "open_clip" not in sys.modules  # never loaded


def test_python_mismatch_error_names_the_python_way(built):
    _, out = built
    other = load_encoder("nyx-lite", ocr=False)
    with pytest.raises(EncoderMismatchError, match=r"Retriever.load\(path\) without encoder="):
        Retriever.load(out, encoder=other)


def test_same_backend_and_model_still_update(built, lite):
    corpus, out = built
    (corpus / "b.txt").write_text("Bees make honey from nectar.")
    summary = build_index(corpus, out, BuildOptions(model=lite, backend="faiss",
                                                    show_progress=False))
    assert summary.added == ["b.txt"]
