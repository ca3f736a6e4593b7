"""How Nyx ids, vectors and filters become Qdrant's: UUID5 point ids (the Nyx id kept in the
payload under ``_nyx_id``), the dense part of a stored vector, and ``Filter`` ->
``qdrant_client.models.Filter`` one condition per key (a prefix, or a glob that is one, is
Qdrant's ``MatchPrefix``; other globs are refused). qdrant-client is imported on use."""

from __future__ import annotations

import uuid
from typing import Any

from .filters import AnyOf, Equals, Filter, Glob, Prefix, Range

__all__ = ["ID_PAYLOAD_KEY", "point_id", "to_qdrant_filter"]

ID_PAYLOAD_KEY = "_nyx_id"
_ID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-5b7a-9c4f-2e8a1d7b3c60")


def _qdrant() -> Any:
    try:
        import qdrant_client
    except ImportError as exc:
        raise ImportError(
            "the Qdrant backend needs qdrant-client: pip install 'nyx-retrieval[qdrant]'"
        ) from exc
    return qdrant_client


def point_id(doc_id: str) -> str:
    """The Qdrant point id (UUID5 string) that stands for a Nyx document id."""
    return str(uuid.uuid5(_ID_NAMESPACE, doc_id))


def _dense(vector: Any) -> Any:
    """The dense part of a stored vector (a dict when the point also has a sparse vector)."""
    return vector.get("", vector) if isinstance(vector, dict) else vector


def _key_of(condition_key: str) -> str:
    if any(ch in condition_key for ch in ".[]") or condition_key == ID_PAYLOAD_KEY:
        raise ValueError(
            f"filter key {condition_key!r} cannot be used with Qdrant: '.', '[' and ']' are "
            f"path syntax there and {ID_PAYLOAD_KEY!r} is reserved; rename the metadata key"
        )
    return condition_key


def _pattern_match(models: Any, condition: Glob | Prefix) -> Any:
    """Qdrant's match for a prefix or a glob: a prefix (``doc/*``) or a glob without
    wildcards translates exactly; Qdrant has no other wildcard match, so the rest is refused
    rather than answered approximately."""
    if isinstance(condition, Prefix):
        return models.MatchPrefix(prefix=condition.prefix)
    if not set("*?") & set(condition.pattern):
        return models.MatchValue(value=condition.pattern)
    if condition.prefix is not None:
        return models.MatchPrefix(prefix=condition.prefix)
    raise ValueError(
        f"filter key {condition.key!r}: the Qdrant backend cannot match the glob "
        f"{condition.pattern!r}; it matches a prefix ('doc/*', a single * at the end) but no "
        "other wildcard. Use a prefix, or a FAISS index for full globs"
    )


def to_qdrant_filter(flt: Filter | None) -> Any:
    """Translate a Nyx `Filter` into `qdrant_client.models.Filter` (None stays None)."""
    if flt is None:
        return None
    models = _qdrant().models
    must = []
    for condition in flt.conditions:
        key = _key_of(condition.key)
        if isinstance(condition, Equals):
            must.append(
                models.FieldCondition(key=key, match=models.MatchValue(value=condition.value))
            )
        elif isinstance(condition, AnyOf):
            match = models.MatchAny(any=list(condition.values))
            must.append(models.FieldCondition(key=key, match=match))
        elif isinstance(condition, Range):
            bounds = models.Range(
                gt=condition.gt, gte=condition.gte, lt=condition.lt, lte=condition.lte
            )
            must.append(models.FieldCondition(key=key, range=bounds))
        elif isinstance(condition, (Glob, Prefix)):
            must.append(models.FieldCondition(key=key, match=_pattern_match(models, condition)))
        else:  # pragma: no cover - Filter.parse only builds the kinds above
            raise TypeError(f"unsupported condition {condition!r}")
    return models.Filter(must=must)
