"""Search returns documents, not chunks: a file is one hit scored by its best chunk, exact
duplicates collapse, ``min_score`` and ``modality`` work; the Python API takes a bare id."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nyx import Item
from nyx.builder import BuildOptions, build_index
from nyx.retriever import Retriever
from tests.helpers import save, skimage_photo

TOPICS = [
    "The readline library lets users edit command lines as they are typed in.",
    "Key bindings in readline are read from the inputrc file in the home directory.",
    "The history list keeps previous command lines that can be recalled and edited.",
    "Completion of file names is triggered with the tab key in most shells.",
]


def _long_text(sentences: list[str], repeat: int = 12) -> str:
    """Paragraphs long enough that the builder splits the file into several chunks."""
    return "\n\n".join(" ".join([s] * repeat) for s in sentences)


@pytest.fixture(scope="module")
def index(lite, tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "readline.md").write_text(_long_text(TOPICS))
    shutil.copy(corpus / "readline.md", corpus / "readline-copy.md")  # an identical file
    (corpus / "coffee.txt").write_text("Espresso is coffee brewed by forcing hot water "
                                       "through finely ground beans.")
    save(skimage_photo("coffee"), corpus / "cup.png")
    out = tmp_path_factory.mktemp("idx") / "docs.nyx"
    build_index(corpus, out, BuildOptions(model=lite, show_progress=False))
    r = Retriever.load(out, encoder=lite)
    yield r
    r.close()


def test_a_file_is_one_hit_scored_by_its_best_chunk(index):
    assert index.count() > 6  # the long files really were chunked
    hits = index.search("where are readline key bindings read from", k=5)
    sources = [h.source for h in hits]
    assert len(sources) == len(set(sources)), sources  # each file once
    top = hits[0]
    assert top.source in ("readline.md", "readline-copy.md")
    assert top.chunk is not None and top.id == f"{top.source}#{top.chunk}"
    assert "inputrc" in top.text  # the chunk that matched, not the file's first chunk
    assert top.matched_chunks > 1
    chunks = index.search("where are readline key bindings read from", k=5, group="chunk")
    assert sum(h.source == top.source for h in chunks) > 1


def test_identical_files_collapse_into_one_hit(index):
    hits = index.search("readline history list of previous command lines", k=5)
    readline = [h for h in hits if h.source in ("readline.md", "readline-copy.md")]
    assert len(readline) == 1, [h.id for h in hits]
    assert readline[0].duplicates == [{"readline.md": "readline-copy.md",
                                       "readline-copy.md": "readline.md"}[readline[0].source]]
    raw = index.search("readline history list of previous command lines", k=5, group="chunk")
    assert {h.source for h in raw[:2]} == {"readline.md", "readline-copy.md"}


def test_min_score_drops_weak_hits(index):
    hits = index.search("espresso coffee", k=5)
    assert len(hits) >= 3
    # min_score compares the absolute relevance estimate (nyx.relevance), not the fused score
    assert all(h.relevance is not None for h in hits)
    best, second = sorted((h.relevance for h in hits), reverse=True)[:2]
    cut = (best + second) / 2
    kept = index.search("espresso coffee", k=5, min_score=cut)
    assert [h.id for h in kept] == [h.id for h in hits if h.relevance >= cut]
    assert len(kept) == 1
    with pytest.raises(ValueError, match="min_score must be a number"):
        index.search("coffee", min_score="high")


def test_modality_image_searches_among_images(index):
    # Text outranks the photo for this query, so filtering the top hits would find nothing ...
    hits = index.search("tab completion of file names", k=2)
    assert all(h.id != "cup.png" for h in hits)
    # ... an image-only search searches among the images instead.
    images = index.search("tab completion of file names", k=2, modality="image")
    assert [h.id for h in images] == ["cup.png"]
    texts = index.search("espresso coffee beans", k=10, modality="text")
    assert texts and all(h.id != "cup.png" for h in texts)
    with pytest.raises(ValueError, match="unknown modality 'video'"):
        index.search("coffee", modality="video")


def test_get_and_delete_take_a_bare_id(lite):
    with Retriever(encoder=lite) as r:
        r.add([Item(["a note about cats"], id="cats"), Item(["dogs bark"], id="dogs")])
        item = r.get("cats")
        assert isinstance(item, Item) and item.text == "a note about cats"
        assert r.get("nope") is None
        assert [i.text if i else None for i in r.get(["dogs", "nope"])] == ["dogs bark", None]
        assert r.delete("cats") == 1 and r.count() == 1


def test_images_added_as_paths_are_named_by_their_file(lite, tmp_path):
    cup = save(skimage_photo("coffee"), tmp_path / "cup.png")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    one = save(skimage_photo("astronaut"), tmp_path / "a" / "photo.png")
    two = save(skimage_photo("rocket"), tmp_path / "b" / "photo.png")
    with Retriever(encoder=lite) as r:
        assert r.add([cup]) == ["cup.png"]
        # two files of the same name in one call keep the paths they were given
        assert r.add([one, two]) == [one.as_posix(), two.as_posix()]
        assert r.add([Path(cup)]) == ["cup.png"] and r.count() == 3  # replaced, not added
        assert r.add(Item([cup], id="mine")) == ["mine"]


def test_an_image_intent_query_is_not_buried_by_a_lexical_false_friend(lite):
    """A picture nothing was read from cannot match "photo"; a note about printing photos
    can. By default (textless=0.75) the cat photo wins "a photo of a cat" while the note still
    wins "print a photo"; with textless=0 (before) the note won both."""
    from nyx import Item, Retriever
    from nyx.hybrid import HybridConfig

    photos = sorted((Path(__file__).resolve().parents[2] / "nyx/data/demo_corpus/photos")
                    .iterdir())
    note = Item(["Photo printing: crop each photo and pick matte or glossy paper before you "
                 "print a photo."], id="printing.md")
    first = {}
    for share in (0.0, HybridConfig().textless):
        with Retriever(lite, hybrid=HybridConfig(textless=share)) as r:
            r.add([note, *photos])
            first[share] = [r.search(q, k=1)[0].id for q in ("a photo of a cat",
                                                               "print a photo")]
    assert HybridConfig().textless == 0.75
    assert first[0.0] == ["printing.md", "printing.md"]
    assert first[0.75] == ["chelsea-the-cat.jpg", "printing.md"]
