"""The lexical analyzer: how text becomes BM25 tokens, for documents and queries alike.

Unicode NFKC normalisation and case folding (so "ﬁle", "Ｆｉｌｅ" and "FILE" are one token, and
"Straße" matches "strasse"), Unicode words of two or more characters, English stopwords dropped,
Snowball English stemming (PyStemmer). The settings are saved with every lexical index and
recorded in the index manifest; :func:`analyzer_id` names them, so an index built with another
analyzer is detected and re-analysed rather than silently queried with different tokens.

Indexes saved before normalisation existed have no ``normalize`` setting and keep their old
behaviour (``"lower"``: ``str.lower`` only) when loaded.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

__all__ = [
    "ANALYZER_VERSION",
    "ENGLISH_STOPWORDS",
    "NORMALIZATIONS",
    "Tokenizer",
    "TokenizerConfig",
    "analyzer_id",
    "stemmer_available",
]

#: Bumped whenever the same settings would produce different tokens.
ANALYZER_VERSION = 2
#: "nfkc_casefold": NFKC then str.casefold (default); "lower": str.lower (indexes before v2).
NORMALIZATIONS: tuple[str, ...] = ("nfkc_casefold", "lower")

_WORD_RE = re.compile(r"(?u)\b\w\w+\b")
_SPACE_RE = re.compile(r"\s")

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

    `stem`: True (default) requires PyStemmer, False never stems, None stems when it is
    installed. `normalize`: one of :data:`NORMALIZATIONS`; `lowercase=False` keeps case.
    """

    lowercase: bool = True
    stopwords: bool = True
    stem: bool | None = True
    min_length: int = 2
    normalize: str = "nfkc_casefold"
    version: int = ANALYZER_VERSION

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise ValueError(f"unknown normalize={self.normalize!r}: use one of "
                             f"{', '.join(NORMALIZATIONS)}")
        if self.min_length < 1:
            raise ValueError(f"min_length must be >= 1, got {self.min_length}")

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> TokenizerConfig:
        """The settings of a saved index; fields it predates take their old behaviour."""
        data = dict(data)
        data.setdefault("normalize", "lower")
        data.setdefault("version", 1)
        data.setdefault("stem", False)
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def analyzer_id(config: TokenizerConfig) -> str:
    """A short, stable name of what the analyzer does, e.g.
    ``"v2:nfkc_casefold:stop-en:snowball-en:min2"``."""
    parts = [f"v{config.version}", config.normalize if config.lowercase else "case"]
    if config.stopwords:
        parts.append("stop-en")
    parts.append("snowball-en" if config.stem else "nostem")
    parts.append(f"min{config.min_length}")
    return ":".join(parts)


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
        if self.config.normalize == "nfkc_casefold":
            text = unicodedata.normalize("NFKC", text)
            if self.config.lowercase:
                text = text.casefold()
        elif self.config.lowercase:
            text = text.lower()
        tokens = _WORD_RE.findall(text)
        if self.config.min_length > 2:
            tokens = [t for t in tokens if len(t) >= self.config.min_length]
        if self.config.stopwords:
            tokens = [t for t in tokens if t not in ENGLISH_STOPWORDS]
        if self._stem is not None:
            tokens = self._stem(tokens)
        return tokens

    #: a long text is counted this many characters at a time (cut at whitespace)
    COUNT_SLICE = 1 << 20

    def counts(self, text: str) -> dict[str, int]:
        """Each token's count in ``text``, as ``Counter(self(text))`` but holding at most one
        slice of tokens at a time: a 50 MB document does not become a list of millions of
        strings (a token never spans whitespace, so cutting there changes nothing)."""
        if len(text) <= self.COUNT_SLICE:
            return dict(Counter(self(text)))
        total: Counter[str] = Counter()
        start = 0
        while start < len(text):
            end = min(start + self.COUNT_SLICE, len(text))
            if end < len(text):
                space = _SPACE_RE.search(text, end)
                end = space.start() if space else len(text)
            total.update(self(text[start:end]))
            start = end
        return dict(total)
