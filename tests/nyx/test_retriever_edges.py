"""Retriever at the edges: chunked documents and selective filters still give ``k`` results."""

from __future__ import annotations

import pytest

from nyx import Item
from nyx.retriever import Retriever

SHORT = [
    Item(["Lighthouses guide ships along rocky coasts at night."], {"topic": "sea"}, "lighthouse"),
    Item(["Sourdough bread rises slowly with wild yeast."], {"topic": "food"}, "bread"),
    Item(["Glaciers carve valleys over thousands of years."], {"topic": "ice"}, "glacier"),
]


@pytest.fixture(scope="module")
def chunked(lite):
    # One document of 23 chunks that all match the query better than the short documents do.
    sentence = "The harbour lighthouse keeper logged every ship at night."
    long_doc = Item([" ".join([sentence] * 23)], {"topic": "sea"}, "logbook")
    r = Retriever(encoder=lite, max_words=10)
    r.add([long_doc, *SHORT])
    assert r.index.count() == 23 + len(SHORT)
    yield r
    r.close()


@pytest.mark.parametrize("mode", ["dense", "hybrid", "auto"])
def test_chunked_document_does_not_crowd_out_the_others(chunked, mode):
    hits = chunked.search("lighthouse keeper ships at night", k=3, mode=mode)
    assert len(hits) == 3 and len({h.id for h in hits}) == 3
    assert hits[0].id == "logbook"
    everything = chunked.search("lighthouse keeper ships at night", k=10, mode=mode)
    assert len(everything) == 4


def test_chunked_document_with_a_filter(chunked):
    hits = chunked.search("lighthouse keeper ships at night", k=2, mode="dense",
                          filter={"topic": "sea"})
    assert [h.id for h in hits] == ["logbook", "lighthouse"]


def test_lexical_filter_is_applied_inside_bm25(lite):
    # 30 documents that match the query well but not the filter, 3 that match both weakly.
    r = Retriever(encoder=lite)
    r.add([Item([f"Tower tower tower number {i} stands in the old town."], {"city": "paris"},
                f"p{i}") for i in range(30)])
    r.add([Item([f"A tower by the river, {name}."], {"city": "london"}, name)
           for name in ("north", "south", "east")])
    for mode in ("lexical", "dense", "hybrid"):
        hits = r.search("tower", k=3, mode=mode, filter={"city": "london"})
        assert {h.id for h in hits} == {"north", "south", "east"}, mode
    r.close()


def test_ids_with_the_chunk_separator_are_refused(lite):
    # "a\x1f0" would be stored like chunk 0 of document "a" and come back from search as "a".
    with Retriever(encoder=lite) as r:
        with pytest.raises(ValueError, match="U\\+001F"):
            r.add([Item(["a note"], id="a\x1f0")])
        r.add([Item(["a note about ünïcödé"], {"k": "v"}, "naïve id ✓ 東京")])
        assert r.search("note", k=1, mode="dense")[0].id == "naïve id ✓ 東京"


def test_a_retriever_never_closed_leaves_no_working_folder(tmp_path):
    """A script that forgets close() -- or a retriever that is garbage-collected -- must not
    leave its copy of the documents in the temporary folder (hundreds piled up in /tmp)."""
    import os
    import subprocess
    import sys

    probe = ("import gc, os, tempfile\n"
             "from nyx import Retriever\n"
             "kept = Retriever()\n"
             "kept.add(['a note about cats', 'a note about dogs'])\n"
             "dropped = Retriever()\n"
             "dropped.add(['a third note'])\n"
             "folder = dropped._tmp\n"
             "del dropped\n"
             "gc.collect()\n"
             "assert not os.path.exists(folder), 'a collected retriever kept its folder'\n"
             "print(len(kept.search('cats', k=1)))\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("nyx-retriever-")] == []
