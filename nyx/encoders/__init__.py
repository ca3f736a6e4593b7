"""Encoders: text, images and interleaved items into one vector space.

The public names load on first use (PEP 562), so that reading an encoder spec
(:mod:`nyx.encoders.spec`) imports no encoder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nyx.indexes.lazy import lazy_exports

_HOMES = {
    "DEFAULT_ENCODER": "nyx.encoders.registry",
    "Encoder": "nyx.encoders.base",
    "EncoderSpec": "nyx.encoders.spec",
    "fuse_vectors": "nyx.encoders.fusion",
    "l2_normalize": "nyx.encoders.base",
    "load_encoder": "nyx.encoders.registry",
}

__all__ = ["DEFAULT_ENCODER", "Encoder", "EncoderSpec", "fuse_vectors", "l2_normalize",
           "load_encoder"]

if TYPE_CHECKING:
    from nyx.encoders.base import Encoder, l2_normalize
    from nyx.encoders.fusion import fuse_vectors
    from nyx.encoders.registry import DEFAULT_ENCODER, load_encoder
    from nyx.encoders.spec import EncoderSpec


__getattr__, __dir__ = lazy_exports("nyx.encoders", _HOMES, globals())
