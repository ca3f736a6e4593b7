"""``EncoderSpec``: the one grammar of encoder names, parsed here and nowhere else.

    nyx-lite                      the offline default
    nyx-lite:PROJECTION           nyx-lite with a trained image projection (.safetensors)
    clip:ARCH[@TAG_OR_CHECKPOINT] an open_clip model, its pretrained tag or a local checkpoint
    vlm:MODEL                     a Qwen2-VL-family embedder: a local folder or a hub id
    PATH_OR_HUB_ID                bare: a projection file, a model folder or a hub id, told
                                  apart when loading (it needs the file system)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

__all__ = ["FAMILIES", "SPEC_FORMS", "SPEC_HELP", "EncoderSpec"]

#: The families a spec can name before its colon.
FAMILIES = ("nyx-lite", "clip", "vlm")
#: The forms a spec takes, as the command line's help shows them.
SPEC_FORMS = ("nyx-lite", "nyx-lite:PROJ.safetensors", "clip:ARCH@TAG", "vlm:PATH")
SPEC_HELP = (
    "known encoders: 'nyx-lite' (offline default, images through ConSE; bridge='trained' for "
    "the image bridge shipped in the package; 'nyx-lite:PROJECTION.safetensors' uses a trained "
    "image projection), "
    "'clip:ARCH[@PRETRAINED_TAG_OR_CHECKPOINT]' (pip install "
    "'nyx-retrieval[clip]'), 'vlm:MODEL_PATH_OR_HUB_ID' or a Qwen2-VL-family folder or hub id "
    "such as 'SnowNation/Nyx' (pip install 'nyx-retrieval[vlm]')"
)
# A word before the colon names a family; a drive letter ("C:") or a path ("./a:b") does not.
_FAMILY_WORD = re.compile(r"[A-Za-z][\w-]+")


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder named as text: ``str(EncoderSpec.parse(text)) == text`` for every valid one.

    >>> EncoderSpec.parse("clip:ViT-B-32@openai")
    EncoderSpec(family='clip', model='ViT-B-32', source='openai')
    >>> EncoderSpec.parse("SnowNation/Nyx")
    EncoderSpec(family='', model='SnowNation/Nyx', source='')
    """

    #: ``nyx-lite``, ``clip``, ``vlm``, or ``""`` for a bare path or hub id.
    family: str
    #: The projection (nyx-lite, may be empty), the architecture (clip), the model (vlm) or the
    #: bare path / hub id.
    model: str = ""
    #: clip only: the pretrained tag or checkpoint after ``@`` (empty: open_clip's default).
    source: str = ""

    def __post_init__(self) -> None:
        if self.family not in (*FAMILIES, ""):
            raise ValueError(f"unknown encoder family {self.family!r}: use one of "
                             f"{', '.join(FAMILIES)} or a bare path / hub id; {SPEC_HELP}")
        if self.source and self.family != "clip":
            raise ValueError(f"only clip: specs take an @source, not {self.family or 'a bare'} "
                             f"spec {self.model!r}")
        if not self.model and self.family != "nyx-lite":
            what = {"clip": "an architecture (clip:ARCH)", "vlm": "a model (vlm:MODEL)",
                    "": "a path or hub id"}[self.family]
            raise ValueError(f"empty encoder spec: it needs {what}; {SPEC_HELP}")

    @property
    def kind(self) -> str:
        """The family, or a bare spec's path or hub id: ``nyx-lite:a.safetensors`` and
        ``nyx-lite`` are one kind, ``clip:ViT-B-32@openai`` another (vectors of different kinds
        never mix in one index)."""
        return self.family or self.model

    @classmethod
    def parse(cls, text: str | os.PathLike[str]) -> EncoderSpec:
        """Split ``text`` into its parts; ``ValueError`` naming the text when it is no spec."""
        raw = os.fspath(text).strip()
        prefix, colon, rest = raw.partition(":")
        if raw in FAMILIES:
            return cls(raw)
        if not colon or (prefix not in FAMILIES and not _FAMILY_WORD.fullmatch(prefix)):
            return cls("", raw)  # bare (a path may hold a colon after a slash or a dot)
        if prefix not in FAMILIES:
            raise ValueError(f"unknown encoder family {prefix!r} in {raw!r}; {SPEC_HELP}")
        if not rest:
            raise ValueError(f"encoder spec {raw!r} ends at its colon: name what follows it, "
                             f"or write {prefix!r} alone; {SPEC_HELP}")
        model, at, source = rest.partition("@") if prefix == "clip" else (rest, "", "")
        if at and not source:
            raise ValueError(f"encoder spec {raw!r} ends at its '@': name a pretrained tag or "
                             "checkpoint after it, or leave the '@' out")
        return cls(prefix, model, source)

    def __str__(self) -> str:
        if not self.family:
            return self.model
        text = f"{self.family}:{self.model}" if self.model else self.family
        return f"{text}@{self.source}" if self.source else text
