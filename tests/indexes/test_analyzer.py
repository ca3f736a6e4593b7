"""The lexical analyzer: NFKC + case folding, stopwords, Snowball stemming, saved settings."""

from __future__ import annotations

import json

import pytest

from nyx.indexes import BM25Config, LexicalIndex, Tokenizer, TokenizerConfig, analyzer_id
from nyx.indexes.lexical import LEXICAL_FILENAME


def test_nfkc_and_casefold_unify_compatibility_forms_and_case():
    tokenize = Tokenizer(TokenizerConfig(stem=False, stopwords=False))
    # full-width letters, the "ﬁ" ligature, German sharp s, and Greek final sigma
    assert tokenize("ＦＩＬＥ ﬁle") == ["file", "file"]
    assert tokenize("STRASSE Straße") == ["strasse", "strasse"]
    assert tokenize("ΟΔΟΣ οδος") == tokenize("οδοσ οδοσ")
    # the old analyzer kept them apart
    legacy = Tokenizer(TokenizerConfig(stem=False, stopwords=False, normalize="lower"))
    assert legacy("ＦＩＬＥ ﬁle Straße") == ["ｆｉｌｅ", "ﬁle", "straße"]


def test_snowball_stemming_is_on_by_default():
    tokenize = Tokenizer()
    assert tokenize("The Runners were running races") == ["runner", "run", "race"]
    assert tokenize.config.stem is True
    assert analyzer_id(tokenize.config) == "v2:nfkc_casefold:stop-en:snowball-en:min2"


def test_stemmed_queries_find_inflected_documents():
    index = LexicalIndex()
    index.add(["a", "b"], ["Volcanoes erupted last year", "A quiet library"])
    assert [h.id for h in index.search(["volcano eruption"], 2)[0]] == ["a"]
    plain = LexicalIndex(BM25Config(tokenizer=TokenizerConfig(stem=False)))
    plain.add(["a", "b"], ["Volcanoes erupted last year", "A quiet library"])
    assert plain.search(["volcano eruption"], 2)[0] == []


def test_saved_settings_round_trip_and_old_indexes_keep_their_analyzer(tmp_path):
    index = LexicalIndex()
    index.add(["x"], ["Ｃａｆé ﬁles"])
    index.save(tmp_path)
    loaded = LexicalIndex.load(tmp_path)
    assert loaded.analyzer_id() == index.analyzer_id()
    assert loaded.search(["cafe files", "CAFÉ FILE"], 1) == index.search(["cafe files",
                                                                         "CAFÉ FILE"], 1)
    # An index written before analyzers were versioned (no normalize/version keys, no stemming)
    state = json.loads((tmp_path / LEXICAL_FILENAME).read_text())
    state["config"]["tokenizer"] = {"lowercase": True, "stopwords": True, "stem": False,
                                    "min_length": 2}
    (tmp_path / LEXICAL_FILENAME).write_text(json.dumps(state))
    old = LexicalIndex.load(tmp_path)
    assert old.analyzer_id() == "v1:lower:stop-en:nostem:min2"
    assert old.config.tokenizer.normalize == "lower"


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="normalize"):
        TokenizerConfig(normalize="nfd")
    with pytest.raises(ValueError, match="min_length"):
        TokenizerConfig(min_length=0)


def test_counts_of_a_long_text_equal_counting_all_its_tokens(monkeypatch):
    """Counting slice by slice (cut at whitespace) gives the same counts, in the same order,
    as tokenising the whole text: BM25 of a huge document is unchanged, its memory is not."""
    from collections import Counter

    from nyx.indexes.tokenize import Tokenizer

    tokenizer = Tokenizer()
    text = ("Running runners ran; the Café's naïve coöperation — ﬁnancial ﬁles!\n\t" * 400
            + "tail words at the very end")
    monkeypatch.setattr(Tokenizer, "COUNT_SLICE", 97)  # many slices, cut mid-sentence
    counts = tokenizer.counts(text)
    expected = dict(Counter(tokenizer(text)))
    assert counts == expected and list(counts) == list(expected)
    assert tokenizer.counts("") == {}
