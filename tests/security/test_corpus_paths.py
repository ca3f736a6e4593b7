"""Nothing outside the corpus is opened, indexed or served: one path policy for every reader."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from nyx.builder import build_index
from nyx.corpus import scan_corpus
from nyx.paths import PathRefused, open_regular, resolve_inside
from nyx.retriever import Retriever
from tests.security.conftest import opened_files, options, resolved


def hostile_corpus(root: Path, outside: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    Image.new("RGB", (64, 64), "blue").save(corpus / "ok.png")
    os.symlink(outside / "secret.jpg", corpus / "link.jpg")
    os.symlink(corpus / "loop.jpg", corpus / "loop.jpg")  # a self-looping symlink
    refs = [str(outside / "secret.jpg"), "../outside/secret.jpg", "/etc/passwd",
            "/proc/self/environ", "link.jpg", "loop.jpg", "sub/../../outside/secret.jpg"]
    records = [{"id": f"r{i}", "text": f"record {i} about boats", "images": [ref]}
               for i, ref in enumerate(refs)]
    records.append({"id": "good", "text": "a record with its own picture", "images": ["ok.png"]})
    (corpus / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (corpus / "page.md").write_text(
        "# Boats\n\nSail boats.\n\n![a](../outside/secret.jpg)\n\n![b](link.jpg)\n\n"
        f"![c]({outside / 'secret.jpg'})\n\n![d](ok.png)\n")
    os.mkfifo(corpus / "pipe.txt")
    return corpus


def test_outside_files_never_opened_indexed_or_referenced(lite, tmp_path, outside):
    corpus = hostile_corpus(tmp_path, outside)
    out = tmp_path / "idx"
    with opened_files() as opened:
        summary = build_index(corpus, out, options(lite))
    forbidden = {outside / "secret.jpg", outside / "secret.txt", Path("/etc/passwd"),
                 Path("/proc/self/environ")}
    assert not forbidden & resolved(opened)
    notes = "\n".join(note for _, note in summary.notes)
    for ref in ("../outside/secret.jpg", "/etc/passwd", "/proc/self/environ", "link.jpg",
                "loop.jpg"):
        assert ref in notes
    assert "outside the corpus root" in notes and "absolute paths are refused" in notes
    assert "symlink loop" in notes
    skipped = dict(summary.skipped)
    assert "not a regular file (a FIFO)" in skipped["pipe.txt"]
    assert "loop" in skipped["loop.jpg"] and "outside" in skipped["link.jpg"]
    with Retriever.load(out) as r:
        for item in r.get([f"r{i}" for i in range(7)] + ["good", "page.md#0"]):
            assert item is not None
            for image in item.images:  # every image lives in the index's own media folder
                assert Path(str(image.path)).resolve().parent.parent.parent == out.resolve()
        (good,) = r.get(["good"])
        assert good is not None and len(good.images) == 1
        (page,) = r.get(["page.md#0"])
        assert page is not None and len(page.images) == 1


def test_symlink_loop_is_not_indexed_at_its_real_path(tmp_path):
    corpus = tmp_path / "c"
    corpus.mkdir()
    os.symlink(corpus / "self.txt", corpus / "self.txt")
    os.symlink(corpus / "b.txt", corpus / "a.txt")
    os.symlink(corpus / "a.txt", corpus / "b.txt")
    reasons = dict(scan_corpus(corpus).skipped)
    assert all("loop" in reasons[n] and "real path" not in reasons[n]
               for n in ("self.txt", "a.txt", "b.txt"))


@pytest.mark.parametrize(("ref", "reason"), [
    ("/etc/passwd", "absolute"), ("../x.jpg", "outside"), ("~/x.jpg", "absolute"),
    ("", "empty"), ("a\x00b", "NUL"), ("missing.jpg", "not found"), ("sub", "directory"),
])
def test_resolve_inside_refuses(tmp_path, ref, reason):
    (tmp_path / "root" / "sub").mkdir(parents=True)
    (tmp_path / "x.jpg").write_bytes(b"x")
    with pytest.raises(PathRefused, match=reason):
        resolve_inside(tmp_path / "root", ref)


def test_open_regular_refuses_fifo_and_symlink_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "real").write_text("x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    with pytest.raises(PathRefused, match="FIFO"):
        open_regular(tmp_path / "fifo")
    with pytest.raises(PathRefused, match="symlink"):
        open_regular(tmp_path / "link")
    with open_regular(tmp_path / "real") as f:
        assert f.read() == b"x"
