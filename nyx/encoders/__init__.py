"""Encoders: text, images and interleaved items into one vector space."""

from nyx.encoders.base import Encoder, l2_normalize
from nyx.encoders.fusion import fuse_vectors
from nyx.encoders.registry import DEFAULT_ENCODER, load_encoder

__all__ = ["DEFAULT_ENCODER", "Encoder", "fuse_vectors", "l2_normalize", "load_encoder"]
