"""The search vocabulary, defined once: modes, grouping, modality, score cut and reranking.

:class:`SearchOptions` is what :meth:`nyx.Retriever.search` takes besides the query, ``k`` and
the filter. The command line (``nyx-index search``), the HTTP API, the MCP server and the
OpenAI tool schema are generated from it (:func:`option_schema`), so a new option or choice
is added here and nowhere else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

__all__ = ["GROUPS", "MAX_RERANK", "MODALITIES", "MODES", "RERANK_SCOPES", "Group", "Modality",
           "Mode", "RerankScope", "SearchOptions", "option_schema"]

#: ``auto``: hybrid for a query with text (when there is a lexical index), dense otherwise
Mode = Literal["auto", "dense", "lexical", "hybrid"]
#: ``document``: the chunks of one file are one hit (its best chunk); ``chunk``: every chunk
Group = Literal["document", "chunk"]
#: ``image``: documents with an image; ``text``: documents with text parts
Modality = Literal["any", "text", "image"]
#: ``all``: the cross-encoder re-scores every one of the N hits; ``unsure``: a query whose first
#: stage is confident (its best hit clearly ahead) has only its top few re-scored
#: (:func:`nyx.hits.confident_window`), the rest kept below them in first-stage order
RerankScope = Literal["all", "unsure"]
MODES: tuple[str, ...] = get_args(Mode)
GROUPS: tuple[str, ...] = get_args(Group)
MODALITIES: tuple[str, ...] = get_args(Modality)
RERANK_SCOPES: tuple[str, ...] = get_args(RerankScope)
#: at most this many hits are re-scored by the cross-encoder in one search (~25 ms each)
MAX_RERANK = 100


def _option(default: Any, help: str, **schema: Any) -> Any:
    return field(default=default, metadata={"help": help, "schema": schema})


@dataclass(frozen=True)
class SearchOptions:
    """How to search, besides the query, ``k`` and the filter. Invalid values raise
    ``ValueError`` naming the option, the value and the choices."""

    mode: Mode = _option("auto", "auto: hybrid for text queries, dense for images; dense: "
                         "vectors only; lexical: BM25 only; hybrid: both, fused",
                         type="string", enum=list(MODES))
    group: Group = _option("document", "document: each file once, by its best passage; "
                           "chunk: every passage", type="string", enum=list(GROUPS))
    modality: Modality = _option("any", "only documents with text, with images, or any "
                                 "(searched among those, not filtered from the top hits)",
                                 type="string", enum=list(MODALITIES))
    min_score: float | None = _option(None, "drop hits whose relevance (0-1 for text queries; "
                                      "the score where none is known) is below this",
                                      type="number")
    #: ``True``: rerank ``rerank_candidates`` hits; a number: that many; ``False``: never
    rerank: bool | int | None = _option(None, "re-score the top N hits with the "
                                        "cross-encoder (leave out for no reranking)",
                                        type="integer", minimum=1, maximum=MAX_RERANK)
    #: ``None``: the retriever's setting (``set_reranker(confident_margin=...)``)
    rerank_scope: RerankScope | None = _option(
        None, "with reranking: all re-scores every one of the N hits; unsure re-scores only "
        "the top 3 when the first stage's best hit clearly leads (about 3x faster, a little "
        "of the gain lost); leave out for the index's setting", type="string",
        enum=list(RERANK_SCOPES))

    def __post_init__(self) -> None:
        for f in fields(self):  # every option with choices; None where that is the default
            choices = f.metadata["schema"].get("enum")
            value = getattr(self, f.name)
            if choices is not None and value not in choices and not (
                    value is None and f.default is None):
                raise ValueError(f"unknown {f.name} {value!r}: use {_choices(tuple(choices))}")
        if self.min_score is not None and (isinstance(self.min_score, bool)
                                           or not isinstance(self.min_score, (int, float))):
            raise ValueError(f"min_score must be a number, got {self.min_score!r}")
        if self.rerank is not None and not isinstance(self.rerank, bool) and (
                not isinstance(self.rerank, int) or self.rerank < 1):
            raise ValueError(f"rerank must be True, False, None or how many hits to rerank "
                             f"(at least 1), got {self.rerank!r}")

    @property
    def rerank_depth(self) -> int | None:
        """How many hits to rerank when the call names a number, else ``None``."""
        return None if self.rerank is None or isinstance(self.rerank, bool) else self.rerank

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _choices(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + " or " + choices[-1]


def option_schema() -> dict[str, dict[str, Any]]:
    """Each option as a JSON-schema property (type, choices, bounds, default, description):
    what the HTTP API, the MCP server, the tool schema and the command line are built from."""
    out = {}
    for f in fields(SearchOptions):
        schema = dict(f.metadata["schema"])
        if f.default is not None:
            schema["default"] = f.default
        out[f.name] = {**schema, "description": f.metadata["help"]}
    return out
