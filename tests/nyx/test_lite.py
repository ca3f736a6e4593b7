"""nyx-lite on its real offline weights: images, text, OCR, batching."""

from __future__ import annotations

import numpy as np
import pytest

from nyx import Item
from nyx.encoders.projection import ImageProjection
from tests.helpers import render_text, save, skimage_photo

DISTRACTORS = ["a rocket on the launch pad", "a cat", "a motorcycle", "a cup of espresso"]


def rank(lite, query_vec: np.ndarray, texts: list[str]) -> list[str]:
    scores = lite.encode_documents(texts) @ query_vec
    return [texts[i] for i in np.argsort(-scores)]


def test_vectors_are_unit_float32(lite):
    vectors = lite.encode_documents(["hello world", skimage_photo("coffee")])
    assert vectors.dtype == np.float32 and vectors.shape == (2, lite.dim) == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize(
    ("photo", "expected"),
    [("coffee", "a cup of espresso"), ("chelsea", "a cat"),
     ("rocket", "a rocket on the launch pad")],
)
def test_photo_ranks_its_description_first(lite, photo, expected):
    query = lite.encode_queries(skimage_photo(photo))[0]
    assert rank(lite, query, DISTRACTORS)[0] == expected


def test_text_ranks_by_meaning(lite):
    docs = ["The feline slept on the warm windowsill.",
            "Stock markets fell sharply after the interest rate decision.",
            "The recipe needs two cups of flour and an egg."]
    queries = ["a cat napping in the sun", "shares dropped because of central bank policy",
               "baking ingredients"]
    scores = lite.encode_queries(queries) @ lite.encode_documents(docs).T
    assert list(scores.argmax(axis=1)) == [0, 1, 2]


def test_rendered_sentence_found_by_paraphrase_through_ocr(lite, tmp_path):
    sentences = ["The museum will be closed on Monday for repairs.",
                 "Our train to Berlin leaves at seven in the morning.",
                 "Please water the tomato plants every evening."]
    paths = [save(render_text(s), tmp_path / f"s{i}.png") for i, s in enumerate(sentences)]
    analyses = lite.analyze_images([Item.of(p).images[0] for p in paths])
    assert "museum" in analyses[0].ocr_text.lower()
    image_vectors = lite.encode_documents(paths)
    paraphrases = ["the gallery is shut at the start of the week for maintenance",
                   "the railway departure for Germany is early tomorrow",
                   "give the vegetables in the garden water at night"]
    scores = lite.encode_queries(paraphrases) @ image_vectors.T
    assert list(scores.argmax(axis=1)) == [0, 1, 2]
    # Without OCR, the same images carry no readable meaning: the link comes from the OCR text.
    assert "tomato" in lite.document_text(Item.of(paths[2])).lower()


def test_batched_equals_one_by_one(lite, tmp_path):
    items = ["short", "a much longer sentence about cats, espresso and rockets in space",
             skimage_photo("coffee"), Item(["the rocket", skimage_photo("rocket"), "lifts off"]),
             save(render_text("Closed for lunch"), tmp_path / "sign.png")]
    batched = lite.encode_documents(items, batch_size=3)
    singles = np.vstack([lite.encode_documents([item]) for item in items])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_interleaved_sits_between_its_text_and_image(lite):
    photo = skimage_photo("chelsea")
    text = "a ginger cat on a sofa"
    t, i, both = lite.encode_documents([text, photo, Item([text, photo])])
    assert both @ t > i @ t and both @ i > t @ i


def test_text_weight_moves_interleaved_vector():
    from nyx import load_encoder

    enc = load_encoder("nyx-lite", text_weight=0.9, ocr=False)
    photo, text = skimage_photo("coffee"), "a rocket on the launch pad"
    t, both = enc.encode_documents([text, Item([text, photo])])
    assert both @ t > 0.95
    assert "tw0.9" in enc.version and "no-ocr" in enc.version


def test_projection_checkpoint_replaces_conse(tmp_path, lite):
    from nyx import load_encoder

    rng = np.random.default_rng(0)
    proj = ImageProjection(rng.normal(size=(384, 1280)).astype(np.float32) * 0.01,
                           np.zeros(384, np.float32), {"note": "test"})
    path = proj.save(tmp_path / "proj.safetensors")
    enc = load_encoder(f"nyx-lite:{path}", ocr=False)
    assert enc.projection is not None and enc.projection.meta == {"note": "test"}
    assert proj.fingerprint() in enc.version
    photo = skimage_photo("coffee")
    features = enc.image_tower.run([Item.of(photo).images[0].load()])[1]
    expected = proj(features)[0]
    np.testing.assert_allclose(enc.encode_documents(photo)[0],
                               expected / np.linalg.norm(expected), atol=1e-5)
    assert enc.version != lite.version
