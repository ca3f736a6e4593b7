"""A small, dependency-free tokenizer for lexical (BM25) search.

Lowercase, split into Unicode words of two or more characters, drop English stopwords
and, if PyStemmer is installed and stemming is requested, stem with Snowball English.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["ENGLISH_STOPWORDS", "Tokenizer", "TokenizerConfig", "stemmer_available"]

_WORD_RE = re.compile(r"(?u)\b\w\w+\b")

_STOPWORD_TEXT = """
    a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how
    how's i i'd i'll i'm i've if in into is isn't it it's its itself let's me more most
    mustn't my myself no nor not of off on once only or other ought our ours ourselves out
    over own same shan't she she'd she'll she's should shouldn't so some such than that
    that's the their theirs them themselves then there there's these they they'd they'll
    they're they've this those through to too under until up very was wasn't we we'd we'll
    we're we've were weren't what what's when when's where where's which while who who's
    whom why why's will with won't would wouldn't you you'd you'll you're you've your yours
    yourself yourselves also just now may might must shall us via yet
"""
# Split the list the way text is split, so "don't" contributes "don" and never dead entries.
ENGLISH_STOPWORDS: frozenset[str] = frozenset(_WORD_RE.findall(_STOPWORD_TEXT))


def stemmer_available() -> bool:
    """Whether PyStemmer (module `Stemmer`) can be imported."""
    try:
        import Stemmer  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class TokenizerConfig:
    """How text becomes tokens; saved with a lexical index so queries match documents.

    `stem`: True requires PyStemmer, False never stems, None stems when it is installed.
    """

    lowercase: bool = True
    stopwords: bool = True
    stem: bool | None = None
    min_length: int = 2


class Tokenizer:
    """Callable turning one text into a list of tokens."""

    def __init__(self, config: TokenizerConfig | None = None) -> None:
        self.config = config or TokenizerConfig()
        self._stem: Callable[[list[str]], list[str]] | None = None
        if self.config.stem is not False and stemmer_available():
            import Stemmer

            stemmer: Any = Stemmer.Stemmer("english")
            self._stem = stemmer.stemWords
        elif self.config.stem:
            raise ImportError(
                "stemming was requested (stem=True) but PyStemmer is not installed: "
                "pip install PyStemmer, or build the lexical index with stem=False"
            )
        # Record the resolved choice so a saved index re-tokenises queries the same way.
        self.config.stem = self._stem is not None

    def __call__(self, text: str) -> list[str]:
        if self.config.lowercase:
            text = text.lower()
        tokens = _WORD_RE.findall(text)
        if self.config.min_length > 2:
            tokens = [t for t in tokens if len(t) >= self.config.min_length]
        if self.config.stopwords:
            tokens = [t for t in tokens if t not in ENGLISH_STOPWORDS]
        if self._stem is not None:
            tokens = self._stem(tokens)
        return tokens
