from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("qdrant_client")

from nyx.indexes import QdrantIndex  # noqa: E402
from nyx.indexes.qdrant_points import ID_PAYLOAD_KEY, point_id, to_qdrant_filter  # noqa: E402

from .conftest import clustered_vectors  # noqa: E402


def test_string_ids_map_to_stable_uuid5_with_id_in_payload():
    index = QdrantIndex(8)
    index.upsert(["doc/1", "doc/2"], clustered_vectors(2, 8, seed=1), [{"a": 1}, None])
    assert point_id("doc/1") == point_id("doc/1") != point_id("doc/2")
    (record,) = index.client.retrieve("nyx", [point_id("doc/1")], with_payload=True)
    assert record.payload == {"a": 1, ID_PAYLOAD_KEY: "doc/1"}
    assert index.get_metadata(["doc/2", "doc/1"]) == [{}, {"a": 1}]


def test_batched_upsert_and_delete_counts():
    index = QdrantIndex(16, batch_size=64)
    vectors = clustered_vectors(300, 16, seed=2)
    index.upsert([f"d{i}" for i in range(300)], vectors)
    assert index.count() == 300
    assert index.delete([f"d{i}" for i in range(0, 300, 2)] + ["nope"]) == 150
    assert index.count() == 150 and index.ids()[:2] == ["d1", "d101"]
    np.testing.assert_allclose(index.get_vectors(["d3", "d3"]), vectors[[3, 3]], atol=1e-6)


def test_filter_translation():
    from qdrant_client import models

    flt = to_qdrant_filter(
        __import__("nyx.indexes", fromlist=["Filter"]).Filter.parse(
            {"lang": "en", "tags": {"any": ["a", "b"]}, "year": {"gte": 2000, "lt": 2020}}
        )
    )
    assert flt == models.Filter(
        must=[
            models.FieldCondition(key="lang", match=models.MatchValue(value="en")),
            models.FieldCondition(key="tags", match=models.MatchAny(any=["a", "b"])),
            models.FieldCondition(key="year", range=models.Range(gte=2000, lt=2020)),
        ]
    )
    assert to_qdrant_filter(None) is None


def test_errors_are_explained(tmp_path):
    index = QdrantIndex(8, collection="c1")
    with pytest.raises(ValueError, match="reserved key"):
        index.upsert(["a"], clustered_vectors(1, 8, seed=3), [{ID_PAYLOAD_KEY: "x"}])
    with pytest.raises(ValueError, match="'a.b' cannot be used with Qdrant"):
        index.search(clustered_vectors(1, 8, seed=3), 1, {"a.b": 1})
    with pytest.raises(ValueError, match="size=8.*size=4"):
        QdrantIndex(4, collection="c1", client=index.client)
    with pytest.raises(ValueError, match="only one of"):
        QdrantIndex(8, location=":memory:", path=str(tmp_path))


def test_api_key_is_never_saved(tmp_path):
    index = QdrantIndex(8, api_key="secret-key")
    index.upsert(["a"], clustered_vectors(1, 8, seed=4))
    index.save(tmp_path)
    saved = (tmp_path / "index.json").read_text()
    assert "secret" not in saved and json.loads(saved)["snapshot"] is not None
    assert QdrantIndex.load(tmp_path).ids() == ["a"]
