"""Only the allowed image decoders ever run: PostScript dressed as a .png never reaches
Ghostscript (a fake ``gs`` on PATH records whether anything tried to run it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n"
       b"newpath 0 0 moveto 16 16 lineto stroke\nshowpage\n%%EOF\n")


@pytest.fixture
def fake_gs(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An environment whose PATH starts with a ``gs`` that leaves a marker when run."""
    bin_dir, marker = tmp_path / "bin", tmp_path / "gs-ran"
    bin_dir.mkdir()
    gs = bin_dir / "gs"
    gs.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    gs.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
    return env, marker


def _run(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=300)


def test_postscript_in_a_png_is_refused_by_load_image_without_running_gs(tmp_path, fake_gs):
    """load_image is what the Python API, HTTP uploads (multipart, base64) and MCP use."""
    env, marker = fake_gs
    evil = tmp_path / "evil.png"
    evil.write_bytes(EPS)
    run = _run("import sys\nfrom nyx.images import ImageLoadError, load_image\n"
               f"for source in ({str(evil)!r}, open({str(evil)!r}, 'rb').read()):\n"
               "    try:\n        load_image(source)\n    except ImageLoadError as e:\n"
               "        print('refused:', e)\n    else:\n        sys.exit('decoded!')\n", env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.count("refused:") == 2 and "PNG, JPEG" in run.stdout
    assert not marker.exists()


def test_postscript_in_a_png_is_skipped_by_a_build_without_running_gs(tmp_path, fake_gs):
    env, marker = fake_gs
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil.png").write_bytes(EPS)
    (corpus / "ok.txt").write_text("Ships sail at dawn.")
    run = _run("from nyx.cli.index import main\n"
               f"raise SystemExit(main(['build', {str(corpus)!r}, '-o', "
               f"{str(tmp_path / 'idx')!r}, '--json']))", env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "evil.png" in run.stdout + run.stderr and "PNG, JPEG" in run.stdout + run.stderr
    assert not marker.exists()


def test_real_formats_still_open(tmp_path):
    from PIL import Image

    from nyx.images import ALLOWED_FORMATS, load_image

    for fmt, suffix in (("PNG", ".png"), ("JPEG", ".jpg"), ("WEBP", ".webp"), ("GIF", ".gif"),
                        ("BMP", ".bmp"), ("TIFF", ".tif")):
        path = tmp_path / f"red{suffix}"
        Image.new("RGB", (8, 8), "red").save(path, format=fmt)
        assert fmt in ALLOWED_FORMATS and load_image(path).size == (8, 8)


def test_postscript_uploaded_over_http_is_a_422_and_never_runs_gs(lite, tmp_path, fake_gs,
                                                                 monkeypatch):
    """Multipart and base64 uploads to /search (the route MCP's search shares)."""
    import base64

    from fastapi.testclient import TestClient

    from nyx.builder import build_index
    from nyx.ensemble.retrievers.nyx_retriever import NyxRetriever
    from nyx.ensemble.tools import SearchTool
    from nyx.serve.app import ServerSettings, create_app, media_url
    from tests.security.conftest import options

    env, marker = fake_gs
    monkeypatch.setenv("PATH", env["PATH"])  # the fake gs comes first, as a real one would
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Ships sail at dawn.")
    build_index(corpus, tmp_path / "idx", options(lite))
    tool = SearchTool(NyxRetriever(index=str(tmp_path / "idx")), media_url=media_url)
    client = TestClient(create_app(tool, ServerSettings(mcp=False)), base_url="http://127.0.0.1")
    multipart = client.post("/search", files={"image": ("evil.png", EPS, "image/png")},
                            data={"query": ""})
    as_json = client.post("/search", json={"image": base64.b64encode(EPS).decode()})
    for reply in (multipart, as_json):
        assert reply.status_code == 422, reply.text[:300]
        assert reply.json()["code"] == "invalid_image" and "PNG, JPEG" in reply.json()["error"]
    assert not marker.exists()
