"""Which files a build reads: the documented text formats, --include-ext and --exclude, kept
in the manifest for the next build."""

from __future__ import annotations

from pathlib import Path

import pytest

from nyx import Retriever
from nyx.builder import BuildOptions, build_index
from nyx.corpus import ReadOptions, scan_corpus
from nyx.indexes import IndexDirectory, Manifest

FILES = {
    "guide.rst": "Installation\n============\n\nRun the zeppelin installer as root.\n",
    "tool.py": 'def compress(data):\n    """Squeeze the walrus buffer."""\n    return data\n',
    "prices.csv": "item,price\nmarmalade,3.20\nbiscuits,1.10\n",
    "server.log": "2026-01-02 12:00:01 ERROR disk quota exceeded on volume tangerine\n",
    "paper.tex": "\\section{Results} The quokka population doubled.\n",
    "feed.xml": "<feed><title>A platypus sighting</title></feed>\n",
    "node_modules/lib/index.js": "module.exports = 'ocelot';\n",
    "docs/old/notes.txt": "The archived axolotl notes.\n",
    "docs/current.txt": "The current narwhal notes.\n",
}


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_documented_text_formats_are_read(corpus: Path) -> None:
    scan = scan_corpus(corpus)
    kinds = {f.rel: f.kind for f in scan.files}
    for rel in ("guide.rst", "tool.py", "prices.csv", "server.log", "paper.tex",
                "node_modules/lib/index.js", "docs/old/notes.txt"):
        assert kinds[rel] == "text", rel
    assert dict(scan.skipped) == {
        "feed.xml": "unsupported file type .xml (to read it as text: --include-ext .xml)"}


def test_include_ext_and_exclude(corpus: Path) -> None:
    reading = ReadOptions(include_ext=("xml",), exclude=("node_modules", "docs/old/*"))
    scan = scan_corpus(corpus, reading=reading)
    assert {f.rel: f.kind for f in scan.files}["feed.xml"] == "text"
    assert dict(scan.skipped) == {"node_modules/": "excluded by --exclude node_modules",
                                  "docs/old/notes.txt": "excluded by --exclude docs/old/*"}
    assert ReadOptions(exclude=("*.log",)).excluded_by("a/b/server.log") == "*.log"
    assert ReadOptions(exclude=("build/",)).excluded_by("build") is None  # a file
    assert ReadOptions(exclude=("build/",)).excluded_by("build", folder=True) == "build/"
    for bad in ({"include_ext": ("a/b",)}, {"include_ext": (".",)}, {"exclude": ("/etc",)},
                {"exclude": ("../up",)}, {"exclude": (" ",)}):
        with pytest.raises(ValueError, match="--include-ext|--exclude"):
            ReadOptions(**bad)


def test_reading_options_are_recorded_and_kept(corpus: Path, tmp_path: Path, lite) -> None:
    out = tmp_path / "idx"

    def build(**options: object) -> list[str]:
        summary = build_index(corpus, out, BuildOptions(model=lite, show_progress=False,
                                                        **options))
        return sorted(summary.added)

    added = build(include_ext=(".xml",), exclude=("node_modules", "docs/old/*"))
    assert "feed.xml" in added and "node_modules/lib/index.js" not in added
    manifest = Manifest.load(IndexDirectory(out).current())
    assert manifest.reading == {"include_ext": [".xml"],
                                "exclude": ["node_modules", "docs/old/*"]}
    with Retriever.load(out) as r:
        for word, source in (("zeppelin", "guide.rst"), ("walrus", "tool.py"),
                             ("marmalade", "prices.csv"), ("tangerine", "server.log"),
                             ("quokka", "paper.tex"), ("platypus", "feed.xml")):
            assert r.search(word, k=1, mode="lexical")[0].source == source
        assert r.search("ocelot", k=1, mode="lexical") == []
    assert build() == []  # the next build reads the same files: nothing new, nothing removed
    assert build(exclude=()) == ["docs/old/notes.txt", "node_modules/lib/index.js"]
    assert Manifest.load(IndexDirectory(out).current()).reading["exclude"] == []
