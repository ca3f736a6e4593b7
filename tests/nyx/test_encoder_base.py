"""The Encoder base class: batching by size, output order, shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from nyx import Encoder, Item
from tests.helpers import skimage_photo


class LengthEncoder(Encoder):
    """Embeds an item as (len(text), number of images), normalised; records its batches."""

    name = "length"
    dim = 2

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def _encode_batch(self, items: list[Item], *, is_query: bool) -> np.ndarray:
        self.batches.append([item.text for item in items])
        return np.array([[len(item.text) + 1.0, float(len(item.images))] for item in items])


TEXTS = ["a", "a much longer text than the others", "mid length", "bb", "a medium sentence"]


def test_batches_group_similar_lengths_and_outputs_keep_input_order():
    encoder = LengthEncoder()
    vectors = encoder.encode_documents(TEXTS, batch_size=2)
    assert encoder.batches == [["a much longer text than the others", "a medium sentence"],
                               ["mid length", "bb"], ["a"]]
    expected = np.array([[len(t) + 1.0, 0.0] for t in TEXTS])
    np.testing.assert_allclose(vectors, expected / np.linalg.norm(expected, axis=1,
                                                                  keepdims=True))


def test_images_are_batched_apart_from_text():
    encoder = LengthEncoder()
    photo = skimage_photo("coffee")
    items = ["text one", Item(["caption", photo]), "text two", photo]
    vectors = encoder.encode_documents(items, batch_size=2)
    assert encoder.batches == [["caption", ""], ["text one", "text two"]]
    assert vectors[1, 1] > 0 and vectors[3, 1] > 0 and vectors[0, 1] == 0


def test_sorting_can_be_turned_off():
    encoder = LengthEncoder()
    encoder.sort_by_length = False
    encoder.encode_documents(TEXTS, batch_size=2)
    assert encoder.batches == [TEXTS[:2], TEXTS[2:4], TEXTS[4:]]


def test_wrong_shape_from_a_backend_is_an_error():
    class Broken(LengthEncoder):
        def _encode_batch(self, items, *, is_query):
            return np.zeros((len(items) + 1, 2))

    with pytest.raises(RuntimeError, match="expected"):
        Broken().encode_queries(["x", "y"])
