"""The search page in headless Chromium: ``/?q=a+cup+of+coffee`` renders ranked results with
thumbnails. Skipped where Debian's ``chromium`` is not installed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.serve.test_server_support import ThreadedServer

pytest_plugins = ("tests.serve.test_server_support",)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.usefixtures("single_thread"),
              pytest.mark.skipif(CHROMIUM is None,
                                 reason="needs headless Chromium: apt-get install chromium")]
SIZE = (1200, 900)


def chromium(url: str, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--disable-background-networking",
               f"--user-data-dir={home}", f"--window-size={SIZE[0]},{SIZE[1]}",
               "--virtual-time-budget=10000", *args, url]
    return subprocess.run(command, capture_output=True, text=True, timeout=90, check=True)


def test_page_assets_and_security_headers(page_server: ThreadedServer) -> None:
    page = httpx.get(f"{page_server.url}/")
    assert page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert 'src="/page.js"' in page.text and "<script>" not in page.text
    assert "https://" not in page.text + httpx.get(f"{page_server.url}/page.js").text


def test_query_in_url_renders_results(page_server: ThreadedServer, tmp_path: Path) -> None:
    url = f"{page_server.url}/?q=a+cup+of+coffee"
    dom = chromium(url, "--dump-dom", home=tmp_path / "profile-dom").stdout
    assert 'data-id="notes/coffee.md#0"' in dom and 'data-id="photos/espresso.jpg"' in dom
    assert dom.index('data-id="notes/coffee.md#0"') < dom.index('data-id="photos/espresso.jpg"')
    assert "5 result(s) for" in dom and "demo.nyx" in dom
    # each hit links to its whole document; passages count from 1; the estimate is labelled
    assert 'href="/documents/notes/coffee.md%230"' in dom
    assert "notes/coffee.md · passage 1" in dom and "relevance 0." in dom
    assert "matched_chunks" not in dom and "relevance:" not in dom
    assert "object-fit: contain" in httpx.get(f"{page_server.url}/page.css").text

    shot = tmp_path / "search-page.png"
    chromium(url, f"--screenshot={shot}", home=tmp_path / "profile-shot")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    assert pixels.shape[:2] == (SIZE[1], SIZE[0])
    assert pixels.std() > 20, "the screenshot is blank"
    # the first result's thumbnail (right of the first card) is a photo, not background
    thumbnail = pixels[230:330, 800:940]
    assert thumbnail.std() > 25 and np.abs(thumbnail - pixels[5:50, 1000:1150].mean()).mean() > 30


def test_text_query_with_images_only_shows_image_hits(page_server: ThreadedServer,
                                                      tmp_path: Path) -> None:
    """``modality=image`` searches among the images: a text query finds pictures even when
    text documents would fill the top of an unfiltered ranking."""
    url = f"{page_server.url}/?q=a+hot+drink+in+a+cup&modality=image&k=3"
    dom = chromium(url, "--dump-dom", home=tmp_path / "profile-dom").stdout
    assert "3 result(s) for" in dom, dom[-2000:]
    assert 'data-id="photos/espresso.jpg"' in dom
    cards = dom.split('<li class="result"')[1:]
    assert len(cards) == 3 and all("<img" in card for card in cards)  # each hit has a picture
    shot = tmp_path / "images-only.png"
    chromium(url, f"--screenshot={shot}", home=tmp_path / "profile-shot")
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=np.float32)
    thumbnail = pixels[230:330, 800:940]
    assert thumbnail.std() > 25, "no photo thumbnail on the first hit"
