"""Memory-mapped BM25 postings (format 2) and batched scoring.

Every ranking is compared, bit for bit, with ``reference_search``: the scoring that
``LexicalIndex`` used for one query at a time before postings were memory-mapped and queries
batched (the same expressions in the same order, over the documents in insertion order).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tests.properties  # noqa: F401  (the hypothesis profiles)
from nyx.indexes import BM25Config, Hit, LexicalIndex
from nyx.indexes.generations import check_checksums, write_checksums
from tests.indexes.test_lexical import CORPUS, IDS, QUERIES


def reference_search(index: LexicalIndex, docs: list[tuple[str, dict[str, int]]],
                     tokens: list[str], k: int, allowed: set[str] | None = None) -> list[Hit]:
    """Top-k as the one-query-at-a-time scorer computed it, for `docs` in insertion order."""
    n_docs = len(docs)
    lengths = np.asarray([sum(c.values()) for _, c in docs], dtype=np.float64)
    avg_length = float(sum(sum(c.values()) for _, c in docs)) / n_docs if n_docs else 0.0
    postings: dict[str, tuple[list[int], list[int]]] = {}
    for slot, (_, counts) in enumerate(docs):
        for term, tf in counts.items():
            postings.setdefault(term, ([], []))
            postings[term][0].append(slot)
            postings[term][1].append(tf)
    k1, b = index.config.k1, index.config.b
    scores = np.zeros(n_docs)
    touched = []
    for term, query_tf in Counter(tokens).items():
        if term not in postings:
            continue
        slots = np.asarray(postings[term][0], dtype=np.int64)
        tfs = np.asarray(postings[term][1], dtype=np.float64)
        df = slots.size
        idf = math.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * lengths[slots] / avg_length) if avg_length > 0 else k1 * (
            1.0 - b)
        scores[slots] += query_tf * idf * tfs / (tfs + norm)
        touched.append(slots)
    if not touched:
        return []
    slots = np.unique(np.concatenate(touched))
    found = scores[slots]
    if allowed is not None:
        keep = np.asarray([docs[s][0] in allowed for s in slots], dtype=bool)
        slots, found = slots[keep], found[keep]
    if slots.size > k:
        top = np.argpartition(-found, k - 1)[:k]
        slots, found = slots[top], found[top]
    order = np.lexsort((slots, -found))
    return [Hit(docs[s][0], float(v)) for s, v in zip(slots[order], found[order])]


WORDS = ["coffee", "tea", "black", "hole", "light", "china", "paper", "reef", "coral",
         "ocean", "music", "piano", "star", "moon", "sun", "rain", "bread", "honey"]
texts = st.lists(st.sampled_from(WORDS), min_size=0, max_size=12).map(" ".join)


def _docs(index: LexicalIndex, ids: list[str]) -> list[tuple[str, dict[str, int]]]:
    return list(zip(ids, index.term_counts(ids)))


@given(corpus=st.lists(texts, min_size=1, max_size=30),
       queries=st.lists(texts, min_size=1, max_size=8),
       deleted=st.sets(st.integers(0, 29), max_size=6),
       k=st.integers(1, 8), k1=st.sampled_from([0.0, 0.9, 1.5]), b=st.sampled_from([0.0, 0.75]))
def test_batched_mapped_and_one_at_a_time_rankings_equal_the_reference(
        tmp_path_factory, corpus, queries, deleted, k, k1, b):
    index = LexicalIndex(BM25Config(k1=k1, b=b))
    ids = [f"d{i}" for i in range(len(corpus))]
    index.add(ids, corpus)
    index.delete([f"d{i}" for i in deleted])
    live = [i for i in ids if i in index]
    docs = _docs(index, live)
    folder = tmp_path_factory.mktemp("lexical")
    index.save(folder)
    loaded = LexicalIndex.load(folder)
    assert loaded._mapped is not None  # searched in place, not rebuilt
    allowed = live[::2] + ["unknown"]
    expected = [reference_search(index, docs, index.tokenizer(q), k) for q in queries]
    expected_allowed = [reference_search(index, docs, index.tokenizer(q), k, set(allowed))
                        for q in queries]
    for searched in (index, loaded):
        assert searched.search(queries, k) == expected
        assert [searched.search([q], k)[0] for q in queries] == expected
        assert searched.search(queries, k, allowed_ids=allowed) == expected_allowed
        for query in queries:
            assert searched.get_scores(query, live + ["unknown"]).tolist() == (
                index.get_scores(query, live + ["unknown"]).tolist())
            # scoring chosen documents gives, bit for bit, the scores a search ranks by
            hits = searched.search([query], max(len(live), 1))[0]
            assert searched.get_scores(query, [h.id for h in hits]).tolist() == [
                h.score for h in hits]
    assert loaded.term_counts(live) == index.term_counts(live)
    assert loaded.average_length() == index.average_length()


def test_batches_larger_than_one_block_equal_one_at_a_time(monkeypatch):
    from nyx.indexes import lexical

    monkeypatch.setattr(lexical, "_SCORE_CELLS", 3 * len(CORPUS))  # blocks of three queries
    index = LexicalIndex()
    index.add(IDS, CORPUS)
    queries = QUERIES * 3 + ["coffee coffee tea", "light light light black"]
    docs = _docs(index, IDS)
    want = [reference_search(index, docs, index.tokenizer(q), 5) for q in queries]
    assert index.search(queries, 5) == want
    assert index.search([], 5) == []


def test_load_maps_the_postings_and_rebuilds_nothing(tmp_path, monkeypatch):
    index = LexicalIndex()
    index.add(IDS, CORPUS)
    index.save(tmp_path)

    def refuse(*args: object) -> None:
        raise AssertionError("load re-indexed a document")

    monkeypatch.setattr(LexicalIndex, "_insert", refuse)
    monkeypatch.setattr("nyx.indexes.tokenize.Tokenizer.counts", refuse)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded._mapped is not None and not loaded._mapped.slots.flags.writeable  # mapped
    assert loaded.search(QUERIES, 3) == index.search(QUERIES, 3)
    assert loaded._postings == {}  # only the queried terms' postings were read
    assert set(loaded._arrays) < set(loaded._mapped.terms)
    assert loaded.count() == len(IDS) and "s05" in loaded and loaded.ids() == sorted(IDS)


def test_changes_after_load_score_like_a_fresh_build(tmp_path):
    index = LexicalIndex()
    index.add(IDS, CORPUS)
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.delete(["unknown"]) == 0 and loaded._mapped is not None  # nothing to change
    loaded.add(["s05", "new"], ["Marco Polo drank coffee in China", "black coffee at night"])
    assert loaded.delete(["s03", "s10"]) == 2 and loaded._mapped is None
    fresh = LexicalIndex()
    final = dict(zip(IDS, CORPUS))
    final.pop("s05"), final.pop("s03"), final.pop("s10")
    final.update({"s05": "Marco Polo drank coffee in China", "new": "black coffee at night"})
    fresh.add(list(final), list(final.values()))
    assert loaded.search(QUERIES + ["coffee China"], 6) == fresh.search(
        QUERIES + ["coffee China"], 6)
    loaded.save(tmp_path)
    again = LexicalIndex.load(tmp_path)
    assert again.search(QUERIES, 6) == fresh.search(QUERIES, 6)


def test_an_empty_index_saves_and_loads(tmp_path):
    LexicalIndex().save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.count() == 0 and loaded.search(["coffee"], 3) == [[]]
    assert loaded.get_scores("coffee", ["a"]).tolist() == [0.0]
    loaded.add(["a"], ["coffee"])
    assert [h.id for h in loaded.search(["coffee"], 3)[0]] == ["a"]


# --- damaged files are refused, never unpickled ------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    index = LexicalIndex()
    index.add(IDS, CORPUS)
    index.save(tmp_path)
    head = json.loads((tmp_path / "lexical.json").read_text(encoding="utf-8"))
    return tmp_path, head["files"]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 7])


def _pickled(path: Path) -> None:
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)


def _retyped(path: Path) -> None:
    np.save(path, np.load(path).astype(np.float64))


@pytest.mark.parametrize("part", ["slots", "tfs", "offsets", "lengths"])
@pytest.mark.parametrize("damage", [_truncate, _pickled, _retyped], ids=lambda f: f.__name__)
def test_a_damaged_array_is_refused_at_load(saved, part, damage):
    folder, files = saved
    damage(folder / files[part])
    with pytest.raises(ValueError, match="damaged or incomplete - rebuild"):
        LexicalIndex.load(folder)


@pytest.mark.parametrize("part", ["terms", "ids"])
def test_a_damaged_list_is_refused_at_load(saved, part):
    folder, files = saved
    _truncate(folder / files[part])
    with pytest.raises(ValueError, match="cannot be read"):
        LexicalIndex.load(folder)


def test_a_missing_file_or_one_outside_the_folder_is_refused(saved):
    folder, files = saved
    (folder / files["tfs"]).unlink()
    with pytest.raises(ValueError, match="cannot be read"):
        LexicalIndex.load(folder)
    head = json.loads((folder / "lexical.json").read_text())
    head["files"]["tfs"] = "../../etc/passwd"
    (folder / "lexical.json").write_text(json.dumps(head))
    with pytest.raises(ValueError, match="not a file of a save"):
        LexicalIndex.load(folder)


def test_postings_naming_missing_documents_are_refused_when_read(saved):
    folder, files = saved
    slots = np.load(folder / files["slots"])
    slots[:] = len(IDS) + 5  # same size and type: only the values are impossible
    np.save(folder / files["slots"], slots)
    loaded = LexicalIndex.load(folder)  # only the queried postings are read ...
    with pytest.raises(ValueError, match="postings of .* are damaged"):
        loaded.search(["coffee"], 3)  # ... and checked as they are
    with pytest.raises(ValueError, match="damaged"):
        loaded.add(["x"], ["x"])  # every posting is checked before it is copied


def test_generation_checksums_cover_the_postings(saved):
    folder, files = saved
    write_checksums(folder)
    assert check_checksums(folder) == []
    path = folder / files["slots"]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert check_checksums(folder) == [
        f"{folder.name}/{files['slots']} changed since the commit (checksum differs)"]


def test_a_failed_save_keeps_the_previous_one(saved, monkeypatch):
    folder, _ = saved
    before = sorted(p.name for p in folder.iterdir())
    index = LexicalIndex()
    index.add(["a"], ["coffee"])
    calls = []

    def failing(handle, array, allow_pickle=False):  # the third array of the save fails
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        np.lib.format.write_array.__wrapped__(handle, array, allow_pickle=allow_pickle)

    real = np.lib.format.write_array
    failing.__wrapped__ = real  # type: ignore[attr-defined]
    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        index.save(folder)
    monkeypatch.setattr(np.lib.format, "write_array", real)
    assert LexicalIndex.load(folder).count() == len(IDS)  # the earlier save, whole
    assert sorted(p.name for p in folder.iterdir()) == before  # the failed save's are removed
