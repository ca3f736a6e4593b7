"""A running server follows the index's CURRENT: after a rebuild the next request answers from
the new generation (HTTP and /health say which), without a restart."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.testclient import TestClient

from nyx.builder import BuildOptions, build_index
from nyx.serve.app import ServerSettings, create_app
from nyx.serve.runner import build_tool


def test_the_next_request_after_a_rebuild_answers_from_the_new_generation(lite, tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "idx"
    corpus.mkdir()
    (corpus / "bread.txt").write_text("Bread rises because yeast makes gas.")
    build_index(corpus, index, BuildOptions(model=lite, show_progress=False))
    tool = build_tool(index, tools=["none"])
    client = TestClient(create_app(tool, ServerSettings(mcp=False)), base_url="http://127.0.0.1")
    health = client.get("/health").json()
    assert health["generation"] == "gen-000001" and health["documents"] == 1
    first = client.get("/search", params={"q": "lighthouse ships", "mode": "lexical"}).json()
    assert [r["id"] for r in first["results"]] == []

    (corpus / "light.txt").write_text("Lighthouses guide ships along rocky coasts.")
    build_index(corpus, index, BuildOptions(model=lite, show_progress=False))  # gen-000002
    found = client.get("/search", params={"q": "lighthouse ships", "mode": "lexical"}).json()
    assert [r["metadata"]["source"] for r in found["results"]] == ["light.txt"]
    health = client.get("/health").json()
    assert health["generation"] == "gen-000002" and health["documents"] == 2
    doc = client.get(f"/documents/{quote(found['results'][0]['id'])}")
    assert doc.status_code == 200 and "Lighthouses" in doc.text
