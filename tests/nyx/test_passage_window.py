"""The part of a long passage the cross-encoder reads (``passage_window="focus"``)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nyx.passage_window import content_ids, focus_start
from nyx.rerank import CrossEncoder

FILLER = ("Paris has a temperate oceanic climate with mild winters and warm summers, and the "
          "city receives rain on about one day in three throughout the whole year. ") * 6
ANSWER = "The tower was designed by the engineering company of Gustave Eiffel in 1887."
QUESTION = "Which engineering company designed the Eiffel tower?"


def test_the_window_with_most_query_pieces_wins_and_ties_go_to_the_head() -> None:
    ids = [5, 1, 1, 9, 9, 9, 1, 9, 9]
    tokens = ["a", "b", "##c", "d", "e", "f", "g", "h", "i"]
    assert focus_start(ids, tokens, 3, {9}) == 3  # 9 9 9
    assert focus_start(ids, tokens, 3, {1}) == 0  # [5 1 1] and [1 1 9] tie: the earlier
    assert focus_start(ids, tokens, 2, {1}) == 1  # [1 1] starts at "b" (a word)
    assert focus_start(ids, tokens, 20, {9}) == 0  # fits: nothing to choose
    assert focus_start(ids, tokens, 3, set()) == 0  # nothing to look for: the head


def test_a_window_never_starts_inside_a_word() -> None:
    ids, tokens = [1, 7, 7, 1], ["a", "##b", "##c", "d"]
    assert focus_start(ids, tokens, 2, {7}) == 0  # [7 7] would start inside "a##b##c"


def test_stopwords_and_punctuation_are_not_content() -> None:
    assert content_ids([1, 2, 3, 4], ["the", "tower", "?", "eiffel"], {1}) == {2, 4}


@given(st.lists(st.integers(0, 5), min_size=1, max_size=60), st.integers(1, 20),
       st.sets(st.integers(0, 5)))
def test_the_chosen_window_holds_the_most_wanted_pieces(ids, room, wanted) -> None:
    tokens = [f"w{i}" for i in ids]  # every piece starts a word
    start = focus_start(ids, tokens, room, wanted)
    count = [sum(i in wanted for i in ids[s:s + room]) for s in range(max(1, len(ids) - room + 1))]
    assert 0 <= start < len(count) and count[start] == max(count)
    assert count.index(max(count)) == start


@pytest.fixture(scope="module")
def encoders() -> dict[str, CrossEncoder]:
    return {window: CrossEncoder(num_threads=1, max_length=128, passage_window=window).load()
            for window in ("focus", "head")}


def test_a_long_passage_is_read_where_the_question_points(encoders) -> None:
    """The answer sits after ~170 tokens of weather: cut at its head (128 tokens) the passage
    looks irrelevant; the focused window reads the answer and ranks it above a short passage
    that only names the tower."""
    long_passage = FILLER + ANSWER
    short = "The Eiffel tower stands in Paris near the river Seine."
    focus = encoders["focus"].score(QUESTION, [long_passage, short])
    head = encoders["head"].score(QUESTION, [long_passage, short])
    assert focus[0] > head[0] + 3.0 and focus[0] > focus[1]
    assert head[0] < head[1]
    assert focus[1] == head[1]  # a passage that fits is read whole either way


def test_pairs_that_fit_score_as_before(encoders) -> None:
    passages = [ANSWER, "Gustave Eiffel's company built bridges.", "", FILLER[:300]]
    assert np.array_equal(encoders["focus"].score(QUESTION, passages),
                          encoders["head"].score(QUESTION, passages))


def test_an_unknown_passage_window_is_refused() -> None:
    with pytest.raises(ValueError, match="passage_window 'middle'.*focus, head"):
        CrossEncoder(passage_window="middle")
