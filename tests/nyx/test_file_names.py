"""File names, folders and the descriptions image files embed are searchable text."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from nyx import Retriever
from nyx.builder import BuildOptions, build_index
from nyx.file_text import embedded_image_text, lexical_text, name_words, path_words
from tests.helpers import require_installed_data

ADWAITA = Path("/usr/share/icons/Adwaita/48x48")
#: the icons a query should find, and others beside them (all real Adwaita PNGs)
ICONS = {
    "devices": ["audio-headphones", "audio-headset", "printer", "computer", "drive-harddisk",
                "input-gaming", "media-optical"],
    "places": ["folder", "user-trash", "user-home", "network-server", "start-here"],
    "legacy": ["dialog-warning", "dialog-error", "dialog-information", "battery-low",
               "network-error", "user-info"],
}


def test_name_words_split_names_and_drop_noise() -> None:
    assert name_words("icons/audio-headphones.png") == "audio headphones"
    assert name_words("NetworkWiredDisconnected_2x.png") == "Network Wired Disconnected"
    assert name_words("camera/IMG_20240611_0042.jpg") == ""
    assert name_words("photos/48x48/3f9a2c7be01d4f55.webp") == ""
    assert name_words("README") == "README"
    assert path_words("Adwaita/48x48/devices/printer-network.png") == \
        "Adwaita devices printer network"
    assert lexical_text("some text", "doc/gzip/TODO") == "some text\n\ndoc gzip TODO"
    assert lexical_text("", None) == " "


def _png_with_text(**chunks: str) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value) if key == "Description" else info.add_text(key, value)
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "navy").save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def test_embedded_descriptions_are_read_and_tool_notes_dropped() -> None:
    png = _png_with_text(Title="Lighthouse at dusk", Description="waves on the rocks",
                         Software="www.inkscape.org", Comment="Created with GIMP")
    assert embedded_image_text(png) == "Lighthouse at dusk. waves on the rocks"

    exif = Image.Exif()
    exif[0x010E] = "a red bicycle"
    exif[0x9C9E] = "tandem;vintage".encode("utf-16-le")  # XPKeywords
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description>'
           b'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Harbour &amp; boats</rdf:li>'
           b'</rdf:Alt></dc:title><dc:subject><rdf:Bag><rdf:li>sailing</rdf:li>'
           b'<rdf:li>pier</rdf:li></rdf:Bag></dc:subject></rdf:Description></rdf:RDF>'
           b'</x:xmpmeta>')
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(buf, "JPEG", exif=exif, xmp=xmp)
    text = embedded_image_text(buf.getvalue())
    for expected in ("a red bicycle", "tandem;vintage", "Harbour & boats", "sailing", "pier"):
        assert expected in text

    gif = io.BytesIO()
    Image.new("P", (8, 8)).save(gif, "GIF", comment=b"the old mill")
    assert embedded_image_text(gif.getvalue()) == "the old mill"
    assert embedded_image_text(b"not an image") == ""


@pytest.fixture(scope="module")
def icon_index(tmp_path_factory: pytest.TempPathFactory, lite) -> Path:
    require_installed_data(ADWAITA, "adwaita-icon-theme")
    corpus = tmp_path_factory.mktemp("folder")
    for category, names in ICONS.items():
        (corpus / "icons" / category).mkdir(parents=True)
        for name in names:
            shutil.copy(ADWAITA / category / f"{name}.png", corpus / "icons" / category)
    (corpus / "doc" / "budget").mkdir(parents=True)
    (corpus / "doc" / "budget" / "quarterly-report.txt").write_text(
        "Spending rose in the third quarter; travel and equipment led the increase.\n")
    (corpus / "doc" / "printing.txt").write_text(
        "To print a page, open the dialog and choose a device. Paper jams are cleared from "
        "the rear tray.\n")
    (corpus / "photos").mkdir()
    (corpus / "photos" / "DSC_0042.png").write_bytes(
        _png_with_text(Title="Lighthouse at dusk", Software="darktable"))
    out = tmp_path_factory.mktemp("index") / "idx"
    build_index(corpus, out, BuildOptions(model=lite, show_progress=False))
    return out


@pytest.mark.data
@pytest.mark.parametrize("query", ["headphones", "printer", "folder", "warning"])
def test_an_icon_is_found_by_the_word_in_its_file_name(icon_index: Path, query: str) -> None:
    with Retriever.load(icon_index) as r:
        top = [h.source or "" for h in r.search(query, k=5)]
    assert any(query in s.rsplit("/", 1)[-1] and s.endswith(".png") for s in top), top


@pytest.mark.data
def test_names_folders_and_embedded_titles_are_in_bm25(icon_index: Path) -> None:
    with Retriever.load(icon_index) as r:
        def lexical(q: str) -> list[str]:
            return [h.source or "" for h in r.search(q, k=3, mode="lexical")]

        assert lexical("headphones")[0] == "icons/devices/audio-headphones.png"
        # a word only the folder and file name hold
        assert lexical("budget")[0] == "doc/budget/quarterly-report.txt"
        # a camera-named photo is found by the title it carries, not by "DSC"
        assert lexical("lighthouse")[0] == "photos/DSC_0042.png"
        assert lexical("DSC") == []
        hit = r.search("headphones", k=1, mode="lexical")[0]
        # the alt text: the name, then what the file embeds (Adwaita's PNGs carry a title)
        assert hit.document is not None
        assert hit.document.images[0].alt == "audio headphones. Adwaita Icon Template"
