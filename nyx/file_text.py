"""The text a file carries about itself: the words of its name and folders, and the
descriptions an image file holds (PNG text chunks, EXIF, XMP, GIF/JPEG comments).

For a folder of icons or photos this is often the best text a user has: nothing in the image
says "headphones", but ``devices/audio-headphones.png`` does. ``nyx-index build`` puts the
name and the embedded description of an image into its alt text (so both BM25 and the dense
text half of the image see them) and the words of every file's path into BM25.
"""

from __future__ import annotations

import html
import io
import re
import warnings
from collections.abc import Iterable

from nyx.images import open_image

__all__ = ["MAX_EMBEDDED_CHARS", "embedded_image_text", "lexical_text", "name_words",
           "path_words"]

#: at most this much embedded description is kept per image (a caption, not a novel)
MAX_EMBEDDED_CHARS = 2000

# camel case and letter/digit boundaries: "NetworkWiredSymbolic" -> "Network Wired Symbolic"
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=\d)"
                    r"|(?<=\d)(?=[A-Za-z])")
_SEPARATORS = re.compile(r"[\s\-_.+,;:()\[\]{}@#~=&%!']+")
# words that name how a file was made, not what it shows
_NOISE = frozenset({"img", "dsc", "dscn", "dscf", "pxl", "mvimg", "vid", "pict", "tmp", "png",
                    "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "svg", "px",
                    "symbolic", "scalable"})
_SIZE = re.compile(r"^\d+x\d+$", re.IGNORECASE)
_HEXISH = re.compile(r"^[0-9a-f]{8,}$", re.IGNORECASE)


def _words(piece: str) -> list[str]:
    out = []
    for token in _SEPARATORS.split(piece):
        if not token or _SIZE.match(token) or _HEXISH.match(token):
            continue
        for word in _CAMEL.sub(" ", token).split():
            low = word.lower()
            if len(word) < 2 or word.isdigit() or low in _NOISE:
                continue
            out.append(word)
    return out


def _unique(words: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for w in words:
        if w.lower() not in seen:
            seen.add(w.lower())
            out.append(w)
    return out


def name_words(rel: str) -> str:
    """The words of a file's name without its extension: ``"icons/audio-headphones.png"`` ->
    ``"audio headphones"``, ``"NetworkWired_2x.png"`` -> ``"Network Wired"``. Digits, sizes
    (``48x48``), hashes and camera prefixes (``IMG_0042``) are dropped; ``""`` when nothing is
    left."""
    name = rel.replace("\\", "/").rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    return " ".join(_unique(_words(stem)))


def path_words(rel: str) -> str:
    """The words of a file's folders and name (see :func:`name_words`):
    ``"Adwaita/48x48/devices/printer-network.png"`` -> ``"Adwaita devices printer network"``."""
    parts = rel.replace("\\", "/").split("/")
    folders = [w for folder in parts[:-1] for w in _words(folder)]
    return " ".join(_unique([*folders, *name_words(rel).split()]))


def lexical_text(text: str, source: object) -> str:
    """What BM25 indexes for a document: its text, then the words of the path of the file it
    came from (``source``, set by ``nyx-index build``), so a file name is searchable."""
    words = path_words(source) if isinstance(source, str) and source else ""
    return "\n\n".join(t for t in (text, words) if t) or " "


# -- text embedded in image files -------------------------------------------------------------

#: PNG text keys (tEXt/zTXt/iTXt) that describe the picture (``Software`` and the like do not)
_PNG_KEYS = ("title", "description", "comment", "subject", "keywords", "caption")
_EXIF_DESCRIPTION, _EXIF_IFD, _USER_COMMENT = 0x010E, 0x8769, 0x9286
#: Windows' XP tags (UTF-16LE): title, comment, keywords, subject
_XP_TAGS = (0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F)
_XMP_FIELD = re.compile(r"<dc:(title|description|subject)\b[^>]*>(.*?)</dc:\1>", re.S)
_XMP_ITEM = re.compile(r"<rdf:li\b[^>]*>([^<]*)</rdf:li>", re.S)
_TOOL_NOTE = re.compile(r"^\s*(created|made|edited|generated) (with|by)\b|^\s*CREATOR:", re.I)


def embedded_image_text(data: bytes) -> str:
    """The descriptions an image file holds about itself, joined by ``". "``: PNG ``Title``/
    ``Description``/``Comment`` chunks, EXIF ``ImageDescription``/``UserComment`` and the XP
    tags, XMP ``dc:title``/``dc:description``/``dc:subject``, and GIF/JPEG comments. Notes that
    only name a program ("Created with GIMP") are left out. ``""`` when there is none or the
    file cannot be read (the image itself is checked elsewhere)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # malformed EXIF is common and harmless here
            with open_image(io.BytesIO(data)) as im:
                found = _image_fields(im)
    except Exception:  # noqa: BLE001 - a description is optional; a broken one is none
        return ""
    texts = _unique(t for t in (_clean(v) for v in found) if t and not _TOOL_NOTE.match(t))
    return ". ".join(texts)[:MAX_EMBEDDED_CHARS]


def _image_fields(im: object) -> list[str]:
    found: list[str] = []
    text = getattr(im, "text", None)  # PNG: reads the chunks after the pixels
    xmp_sources: list[object] = []
    if isinstance(text, dict):
        for key, value in text.items():
            if key.lower() in _PNG_KEYS:
                found.append(str(value))
            elif key == "XML:com.adobe.xmp":
                xmp_sources.append(value)
    info = getattr(im, "info", {}) or {}
    if info.get("comment"):
        found.append(_decode(info["comment"]))
    xmp_sources.append(info.get("xmp") or info.get("XML:com.adobe.xmp"))
    for xmp in xmp_sources:
        found.extend(_xmp_text(xmp))
    getexif = getattr(im, "getexif", None)
    if getexif is not None:
        exif = getexif()
        if exif.get(_EXIF_DESCRIPTION):
            found.append(_decode(exif[_EXIF_DESCRIPTION]))
        for tag in _XP_TAGS:
            if exif.get(tag):
                found.append(_decode(exif[tag], xp=True))
        comment = exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)
        if comment:
            found.append(_user_comment(comment))
    return found


def _xmp_text(xmp: object) -> list[str]:
    if not xmp:
        return []
    doc = _decode(xmp)[:200_000]
    out = []
    for _, body in _XMP_FIELD.findall(doc):
        items = _XMP_ITEM.findall(body) or [body]
        out.extend(html.unescape(i) for i in items)
    return out


def _user_comment(value: object) -> str:
    """EXIF UserComment: an 8-byte character-code header, then the text."""
    if isinstance(value, bytes):
        head, body = value[:8], value[8:]
        if head.startswith(b"UNICODE"):
            return body.decode("utf-16-be" if body[:1] == b"\0" else "utf-16-le", "ignore")
        return body.decode("utf-8", "ignore") if head.strip(b"\0 ") else value.decode(
            "utf-8", "ignore")
    return str(value)


def _decode(value: object, *, xp: bool = False) -> str:
    if isinstance(value, tuple):  # XP tags may come as a tuple of byte values
        value = bytes(value)
    if isinstance(value, bytes):
        return value.decode("utf-16-le" if xp else "utf-8", "ignore")
    return str(value)


def _clean(text: str) -> str:
    text = "".join(c if c.isprintable() else " " for c in text.replace("\0", " "))
    return " ".join(text.split())
