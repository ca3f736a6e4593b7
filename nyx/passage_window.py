"""Which part of a long passage a cross-encoder reads: the window that holds the query's words.

A cross-encoder reads a (query, passage) pair of at most ``max_length`` tokens. Cutting a long
passage at its head loses whatever the query asks about further on; reading the whole passage
costs time in proportion to its length. :func:`focus_start` picks, among the passage's
windows of ``room`` word-piece tokens that start at a word, the one holding the most
occurrences of the query's content word pieces (stopwords and punctuation do not count; ties go
to the earliest, so a passage whose head matches as well as any later window is cut as before).
The idea is the cascade of Hofstätter et al. 2021 ("Intra-Document Cascading"): a cheap
selector picks the passage part an expensive model reads.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

__all__ = ["content_ids", "focus_start"]


def content_ids(ids: Sequence[int], tokens: Sequence[str],
                stop_ids: Collection[int]) -> set[int]:
    """The word pieces of a query that count as its content: not a stopword, not punctuation."""
    return {i for i, t in zip(ids, tokens)
            if i not in stop_ids and any(ch.isalnum() for ch in t)}


def focus_start(passage_ids: Sequence[int], passage_tokens: Sequence[str], room: int,
                wanted: Collection[int]) -> int:
    """Where the ``room``-token window of the passage with the most ``wanted`` pieces starts
    (0 when the passage fits or nothing matches). Windows start at a word (not a ``##``
    continuation piece) unless no window does; ties go to the earliest window."""
    n = len(passage_ids)
    if room <= 0 or n <= room or not wanted:
        return 0
    hits = np.fromiter((i in wanted for i in passage_ids), dtype=np.int64, count=n)
    cumulative = np.concatenate([[0], np.cumsum(hits)])
    counts = cumulative[room:] - cumulative[:-room]  # counts[s]: pieces s .. s+room-1
    at_word = np.fromiter((not passage_tokens[s].startswith("##") for s in range(n - room + 1)),
                          dtype=bool, count=n - room + 1)
    if at_word.any():
        counts = np.where(at_word, counts, -1)
    return int(np.argmax(counts))  # the first of equal maxima
