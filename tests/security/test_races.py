"""Check-then-use races on corpus paths: whatever is swapped in after the scan (a folder turned
symlink, an image turned symlink, another file renamed over one) is refused or never seen, and
a hard link to a file outside the corpus is not indexed unless asked."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from nyx.builder import build_index
from nyx.corpus import scan_corpus
from nyx.paths import PathRefused
from nyx.readers import parse_source
from nyx.retriever import Retriever
from tests.security.conftest import opened_files, options, resolved


def _swap_for_link(path: Path, target: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    os.symlink(target, path)


def test_a_folder_swapped_for_a_symlink_after_the_scan_is_not_followed(tmp_path, outside):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "sub" / "secret.txt").write_text("harmless words about ships")
    scan = scan_corpus(corpus)
    (src,) = [f for f in scan.files if f.rel == "sub/secret.txt"]
    _swap_for_link(corpus / "sub", outside)  # outside/ holds secret.txt too
    with opened_files() as opened:
        with pytest.raises(PathRefused, match="not a plain folder"):
            src.compute_hash()
        with pytest.raises(PathRefused):
            parse_source(src, corpus.resolve())
    assert (outside / "secret.txt").resolve() not in resolved(opened)


def test_a_file_replaced_after_the_scan_is_refused(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("first words")
    (src,) = scan_corpus(corpus).files
    (corpus / "other.txt").write_text("other words")
    os.replace(corpus / "other.txt", corpus / "a.txt")  # same name, another file
    with pytest.raises(PathRefused, match="replaced by another file since the scan"):
        src.compute_hash()


def test_an_image_swapped_for_a_symlink_is_refused_and_never_copied(tmp_path, outside, lite):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    Image.new("RGB", (24, 24), "green").save(corpus / "pic.png")
    (corpus / "page.md").write_text("# Green\n\nA green square.\n\n![green](pic.png)\n")
    scan = scan_corpus(corpus)
    image_file = next(f for f in scan.files if f.rel == "pic.png")
    page = next(f for f in scan.files if f.rel == "page.md")
    original = (corpus / "pic.png").read_bytes()
    items = list(parse_source(page, corpus.resolve()).items)  # the reference is read here
    _swap_for_link(corpus / "pic.png", outside / "secret.jpg")
    with pytest.raises(PathRefused):
        parse_source(image_file, corpus.resolve())
    # what the page's item carries is the checked bytes: the index stores those, not the link
    retriever = Retriever(encoder=lite)
    retriever.add(items)
    retriever.save(tmp_path / "idx")
    retriever.close()
    media = list((tmp_path / "idx").glob("gen-*/media/*"))
    assert [m.read_bytes() for m in media] == [original]


def test_a_hard_link_is_skipped_unless_allowed(tmp_path, outside, lite):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.txt").write_text("Ships sail at dawn.")
    os.link(outside / "secret.txt", corpus / "linked.txt")
    summary = build_index(corpus, tmp_path / "idx", options(lite))
    assert any(rel == "linked.txt" and "hard link" in why for rel, why in summary.skipped)
    with Retriever.load(tmp_path / "idx", encoder=lite) as retriever:
        assert "SECRET" not in json.dumps([d.payload for d in retriever.store.get_many(
            retriever.store.ids())])
    allowed = build_index(corpus, tmp_path / "idx2", options(lite, allow_hardlinks=True))
    assert "linked.txt" in allowed.added
