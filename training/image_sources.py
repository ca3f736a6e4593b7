"""Image–caption sources that ship in registry packages, each a named source for bridge training.

Every source yields :class:`CaptionedImage` records: an image (file path or PIL image), the
canonical caption used as the evaluation query, the words that fill caption templates during
training, and a split (``train`` or ``eval``, fixed by a seeded hash of the caption group so a
held-out caption is never seen in training). Sources, all offline:

=============  ==================================================  ==============================
name           package                                             caption
=============  ==================================================  ==============================
openclipart    Debian ``openclipart-png`` + ``openclipart-svg``    SVG title (+ keywords)
adwaita        Debian ``adwaita-icon-theme`` (48 px PNGs)          icon name + category
oxygen         Debian ``oxygen-icon-theme`` (48 px PNGs)           icon name + category
tango          Debian ``tango-icon-theme`` (32 px PNGs)            icon name + category
gnome          Debian ``gnome-icon-theme`` (48 px PNGs)            icon name + category
fashion-mnist  Debian ``dataset-fashion-mnist`` (train / test)     class name
easy-vqa       PyPI ``easy-vqa`` (train / test)                    colour + shape from its QA
skimage        PyPI ``scikit-image`` sample photos                 a hand-written description
=============  ==================================================  ==============================

Only the sources in this table are read; image sets held out for evaluation elsewhere are not.
Icon ``emotes`` folders (smiley faces) are left out too.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

ICON_ROOT = Path("/usr/share/icons")
FASHION_ROOT = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")

#: Templates that turn a source's subject words into training captions.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "clipart": ("{x}", "a {x}", "a drawing of {x}", "clip art of {x}", "an illustration of {x}"),
    "icon": ("{x}", "a {x}", "an icon of {x}", "{x} icon", "a symbol for {x}"),
    "photo": ("{x}", "a {x}", "a photo of a {x}", "a picture of a {x}", "an image of a {x}"),
}


@dataclass
class CaptionedImage:
    """One image of a source with its caption(s)."""

    source: str
    #: A file path or an in-memory PIL image.
    image: str | Image.Image
    #: The evaluation query for this image (images sharing it are all relevant).
    caption: str
    #: Subject words for the training templates (``caption`` when empty).
    subject: str = ""
    #: Template family for training captions (a key of :data:`TEMPLATES`).
    style: str = "photo"
    #: Further training captions (keywords, descriptions).
    extra: list[str] = field(default_factory=list)
    split: str = "train"

    def training_captions(self) -> list[str]:
        """The caption, its template variants and the extra captions (deduplicated)."""
        subject = self.subject or self.caption
        texts = [self.caption] + [t.format(x=subject) for t in TEMPLATES[self.style]] + self.extra
        return list(dict.fromkeys(" ".join(t.split()) for t in texts if t.strip()))


def hashed_fraction(text: str, seed: int = 0) -> float:
    """A stable number in [0, 1) for ``text`` (used to split and subsample reproducibly)."""
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(items: list[CaptionedImage], eval_share: float, max_train: int,
                  max_eval: int, seed: int = 0) -> list[CaptionedImage]:
    """Split by caption (a caption is in one split only), then keep at most ``max_*`` per split."""
    for item in items:
        item.split = "eval" if hashed_fraction(item.caption.lower(), seed) < eval_share \
            else "train"
    return _cap(items, {"train": max_train, "eval": max_eval}, seed)


def _cap(items: list[CaptionedImage], limits: dict[str, int], seed: int) -> list[CaptionedImage]:
    out = []
    for split, limit in limits.items():
        chosen = [i for i in items if i.split == split]
        random.Random(seed).shuffle(chosen)
        out.extend(chosen[:limit])
    return out


# -- OpenClipart ----------------------------------------------------------------------------

def openclipart(max_train: int = 1500, max_eval: int = 400) -> list[CaptionedImage]:
    from nyx.training.evidence.openclipart_data import find_pairs

    items = []
    for pair in find_pairs():
        title = pair.meta.title.strip().rstrip(".")
        extra = [pair.meta.caption()]
        if pair.meta.keywords:
            extra.append(", ".join(pair.meta.keywords[:6]))
        items.append(CaptionedImage("openclipart", pair.png, title, style="clipart",
                                    extra=extra))
    return assign_splits(items, 0.2, max_train, max_eval)


# -- icon themes ----------------------------------------------------------------------------

_ICON_THEMES = {"adwaita": ("Adwaita", "48x48"), "oxygen": ("oxygen/base", "48x48"),
                "tango": ("Tango", "32x32"), "gnome": ("gnome", "48x48")}
_ICON_CATEGORY_WORDS = {
    "actions": "action", "apps": "application", "categories": "category", "devices": "device",
    "emblems": "emblem", "mimetypes": "file type", "places": "place", "status": "status",
    "legacy": "", "ui": "interface", "animations": "animation",
}
_ICON_SKIP_CATEGORIES = frozenset({"emotes", "animations", "ui"})
_ICON_NAME_WORDS = {"x": "", "gnome": "", "kde": "", "gtk": "", "symbolic": "", "rtl": "",
                    "ltr": "", "msword": "word", "vnd": "", "oasis": "", "opendocument": "",
                    "ms": "microsoft", "org": "", "freedesktop": ""}


def icon_caption(name: str) -> str:
    """``"media-playback-start"`` -> ``"media playback start"``; vendor prefixes dropped."""
    raw = name.replace("_", "-").replace(".", "-").split("-")
    words = [w for w in (_ICON_NAME_WORDS.get(w, w) for w in raw) if w and not w.isdigit()]
    return " ".join(words)


def icon_theme(source: str, max_train: int = 1000, max_eval: int = 300,
               root: Path = ICON_ROOT) -> list[CaptionedImage]:
    """One PNG per distinct file of a theme's size folder; symlinked aliases add captions."""
    theme, size = _ICON_THEMES[source]
    folder = root / theme / size
    if not folder.is_dir():
        raise FileNotFoundError(f"icon theme {source} not found at {folder}: "
                                f"apt-get install {source}-icon-theme")
    by_file: dict[Path, CaptionedImage] = {}
    for png in sorted(folder.glob("*/*.png")):
        category = png.parent.name
        if category in _ICON_SKIP_CATEGORIES:
            continue
        caption = icon_caption(png.stem)
        if not caption:
            continue
        real = png.resolve()
        if real in by_file:
            by_file[real].extra.append(caption)
            continue
        word = _ICON_CATEGORY_WORDS.get(category, "")
        extra = [f"{caption} ({word} icon)"] if word else []
        by_file[real] = CaptionedImage(source, str(real), caption, style="icon", extra=extra)
    # A caption shared by two files makes them both relevant to it; that is fine.
    return assign_splits(list(by_file.values()), 0.25, max_train, max_eval)


# -- Fashion-MNIST ----------------------------------------------------------------------------

def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist(max_train: int = 1500, max_eval: int = 500,
                  root: Path = FASHION_ROOT) -> list[CaptionedImage]:
    """Train images for training, test images for evaluation (per-class balanced)."""
    files = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "eval": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
    if not (root / files["train"][0]).is_file():
        raise FileNotFoundError(f"Fashion-MNIST not found at {root}: "
                                "apt-get install dataset-fashion-mnist")
    out = []
    for split, (images_file, labels_file) in files.items():
        images, labels = _read_idx(root / images_file), _read_idx(root / labels_file)
        per_class = (max_train if split == "train" else max_eval) // len(FASHION_CLASSES)
        for label, name in enumerate(FASHION_CLASSES):
            rows = np.flatnonzero(labels == label)[:per_class]
            subject = name.replace("/", " or ").lower()
            for row in rows:
                out.append(CaptionedImage("fashion-mnist", Image.fromarray(images[row]),
                                          f"a photo of a {subject}", subject=subject,
                                          style="photo", split=split))
    return out


# -- easy-VQA -------------------------------------------------------------------------------

_SHAPES = frozenset({"circle", "rectangle", "triangle"})


def easy_vqa(max_train: int = 1500, max_eval: int = 500) -> list[CaptionedImage]:
    """``"a blue rectangle"`` from each image's colour and shape answers."""
    import easy_vqa as ev

    out = []
    for split, questions, paths, limit in (
            ("train", ev.get_train_questions, ev.get_train_image_paths, max_train),
            ("eval", ev.get_test_questions, ev.get_test_image_paths, max_eval)):
        color: dict[int, str] = {}
        shape: dict[int, str] = {}
        for question, answer, image_id in zip(*questions()):
            if answer in _SHAPES:
                shape[image_id] = answer
            elif question.startswith("what color"):
                color[image_id] = answer
        files = paths()
        ids = sorted(i for i in files if i in color and i in shape)[:limit]
        for image_id in ids:
            subject = f"{color[image_id]} {shape[image_id]}"
            out.append(CaptionedImage("easy-vqa", files[image_id], f"a {subject}",
                                      subject=subject, style="photo", split=split,
                                      extra=[f"a {shape[image_id]} that is {color[image_id]}"]))
    return out


# -- scikit-image sample photos --------------------------------------------------------------

_SKIMAGE = {
    "astronaut": "an astronaut in a space suit with an American flag",
    "camera": "a man with a camera on a tripod, black and white",
    "chelsea": "a tabby cat looking sideways",
    "coffee": "a cup of coffee on a saucer", "coins": "old coins on a table",
    "horse": "the silhouette of a horse", "rocket": "a rocket on a launch pad",
    "clock": "a clock on a wall", "brick": "a brick wall", "grass": "grass",
    "gravel": "gravel", "moon": "the surface of the moon", "page": "a page of printed text",
    "text": "text painted on a road", "logo": "the scikit-image logo",
    "hubble_deep_field": "galaxies in deep space seen by a telescope",
    "retina": "the retina of an eye", "colorwheel": "a colour wheel",
    "checkerboard": "a checkerboard pattern", "immunohistochemistry": "stained tissue cells",
    "stereo_motorcycle": "a motorcycle", "skin": "a microscope image of skin",
    "lily": "a lily flower", "eagle": "an eagle",
}


def skimage_photos() -> list[CaptionedImage]:
    """The sample images that ship inside the wheel (nothing is downloaded); all are eval."""
    import skimage.data

    out = []
    for name, caption in _SKIMAGE.items():
        try:
            data = getattr(skimage.data, name)()
        except Exception as exc:  # noqa: BLE001 - some samples need a download: skip those
            logger.info("skimage sample %s unavailable: %s", name, exc)
            continue
        if isinstance(data, tuple):
            data = data[0]
        array = np.asarray(data)
        if array.dtype != np.uint8:
            array = array.astype(np.float32)
            array = (255 * (array - array.min()) / max(float(np.ptp(array)), 1e-9)).astype(
                np.uint8)
        if array.ndim == 3 and array.shape[-1] == 4:
            array = array[..., :3]
        if array.ndim not in (2, 3):
            continue
        out.append(CaptionedImage("skimage", Image.fromarray(array), caption, style="photo",
                                  split="eval"))
    return out


SOURCES: dict[str, Callable[[], list[CaptionedImage]]] = {
    "openclipart": openclipart,
    "adwaita": lambda: icon_theme("adwaita"),
    "oxygen": lambda: icon_theme("oxygen"),
    "tango": lambda: icon_theme("tango"),
    "gnome": lambda: icon_theme("gnome"),
    "fashion-mnist": fashion_mnist,
    "easy-vqa": easy_vqa,
    "skimage": skimage_photos,
}


def load_sources(names: list[str] | None = None) -> Iterator[tuple[str, list[CaptionedImage]]]:
    """``(name, items)`` for each available source; a missing package is logged and skipped."""
    for name in names or list(SOURCES):
        try:
            items = SOURCES[name]()
        except (FileNotFoundError, ImportError) as exc:
            logger.warning("source %s skipped: %s", name, exc)
            continue
        logger.info("source %s: %d train, %d eval images", name,
                    sum(i.split == "train" for i in items), sum(i.split == "eval" for i in items))
        yield name, items
