"""Fashion-MNIST from the Debian package ``dataset-fashion-mnist``.

Install it with ``sudo apt-get install dataset-fashion-mnist`` (30.9 MB installed): the four IDX
files (gzip-compressed, big-endian headers, uint8 pixels) land in
``/usr/share/datasets/fashion-mnist``. This module parses them with numpy (no torchvision).

The retrieval view (``fashion-mnist``): the corpus is the 10,000 test images (or 60,000 with
``split="train"``), materialised once as 28x28 grayscale PNGs under
``<cache>/fashion-mnist/<split>/`` so they can be indexed by path; doc ids are
``"<split>-00042"``. There is one query per class, ``"a photo of a <class name>"`` (text only),
and every image of that class is relevant (grade 1). ``limit`` keeps the first images.
``metadata["labels"]`` maps each doc id to its class name for classification-style scores.
Fashion-MNIST is MIT licensed (Zalando Research).
"""

from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from nyx.benchmarks.datasets.base import (
    DatasetFormatError,
    DatasetUnavailableError,
    RetrievalDataset,
    check_limit,
    make_document,
    make_query,
)
from nyx.benchmarks.datasets.files import dataset_cache_dir, sha256_file

logger = logging.getLogger(__name__)

__all__ = [
    "CLASS_NAMES",
    "FashionMnist",
    "load_fashion_mnist",
    "load_fashion_mnist_arrays",
    "read_idx",
]

NAME = "fashion-mnist"
APT_PACKAGE = "dataset-fashion-mnist"
DEFAULT_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FILES = {
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
}
#: sha256 of the files in dataset-fashion-mnist 0.0~git20200523.55506a9-1 (= upstream's).
SHA256 = {
    FILES["test"][0]: "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    FILES["test"][1]: "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    FILES["train"][0]: "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    FILES["train"][1]: "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
}
DEFAULT_PROMPT = "a photo of a {}"
_UINT8_CODE = 0x08


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes into an array."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise DatasetFormatError(f"cannot read IDX file {path}: {error}") from error
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetFormatError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    if raw[2] != _UINT8_CODE:
        raise DatasetFormatError(f"{path}: IDX data type 0x{raw[2]:02x} unsupported (want uint8)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) if shape else 0
    if len(raw) - header != expected:
        raise DatasetFormatError(
            f"{path}: header says shape {shape} ({expected} bytes) but {len(raw) - header} "
            "bytes follow; the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@dataclass(frozen=True)
class FashionMnist:
    """Images (N x 28 x 28 uint8), labels (N, values 0-9) and the 10 class names."""

    split: str
    images: np.ndarray
    labels: np.ndarray
    #: sha256 of the images file: names the PNG cache so other data never reuses it
    images_sha256: str = ""
    class_names: tuple[str, ...] = CLASS_NAMES

    def __len__(self) -> int:
        return len(self.labels)

    def image(self, index: int) -> Image.Image:
        return Image.fromarray(self.images[index])  # 2-D uint8 -> mode "L"

    def class_name(self, index: int) -> str:
        return self.class_names[int(self.labels[index])]


def _locate(split: str, data_dir: Path) -> tuple[Path, Path, str]:
    if split not in FILES:
        raise ValueError(f"unknown Fashion-MNIST split {split!r}; use 'test' or 'train'")
    paths = tuple(data_dir / name for name in FILES[split])
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DatasetUnavailableError(
            f"Fashion-MNIST files not found in {data_dir} (missing {', '.join(missing)}); "
            f"install the Debian package: `sudo apt-get install {APT_PACKAGE}`, "
            "or pass data_dir=... pointing at a folder with the IDX .gz files"
        )
    digests = [sha256_file(path) for path in paths]
    for path, digest in zip(paths, digests):
        if path.parent == DEFAULT_DATA_DIR and digest != SHA256[path.name]:
            logger.warning("%s has sha256 %s, expected %s", path, digest, SHA256[path.name])
    return paths[0], paths[1], digests[0]


def load_fashion_mnist_arrays(
    split: str = "test", data_dir: str | os.PathLike[str] | None = None
) -> FashionMnist:
    """The raw arrays of one split, read from the Debian package's files."""
    data_path = Path(data_dir).expanduser() if data_dir else DEFAULT_DATA_DIR
    images_path, labels_path, images_sha256 = _locate(split, data_path)
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DatasetFormatError(
            f"{images_path} {images.shape} and {labels_path} {labels.shape} do not pair up "
            "as N images of HxW with N labels"
        )
    if labels.size and int(labels.max()) >= len(CLASS_NAMES):
        raise DatasetFormatError(f"{labels_path} holds label {int(labels.max())} > 9")
    return FashionMnist(split, images, labels, images_sha256)


def materialize_pngs(data: FashionMnist, folder: Path, count: int) -> list[Path]:
    """Write the first ``count`` images as PNGs (once; existing files are reused).

    ``folder/SOURCE_SHA256`` records which images file the PNGs came from; PNGs made from
    another file are deleted first.
    """
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "SOURCE_SHA256"
    if marker.is_file() and marker.read_text().strip() != data.images_sha256:
        logger.info("%s holds PNGs of other data; rewriting them", folder)
        for stale in folder.glob("*.png"):
            stale.unlink()
    marker.write_text(data.images_sha256 + "\n")
    paths = [folder / f"{data.split}-{i:05d}.png" for i in range(count)]
    todo = [i for i, path in enumerate(paths) if not path.is_file()]
    for i in tqdm(todo, desc=f"writing Fashion-MNIST PNGs to {folder}", disable=not todo):
        tmp = paths[i].with_name(f".{paths[i].name}.{os.getpid()}.tmp")
        data.image(i).save(tmp, format="PNG")
        os.replace(tmp, paths[i])
    return paths


def load_fashion_mnist(
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    split: str = "test",
    data_dir: str | os.PathLike[str] | None = None,
    prompt: str = DEFAULT_PROMPT,
) -> RetrievalDataset:
    """Text-to-image retrieval by class prompt; see the module docstring."""
    check_limit(limit)
    data = load_fashion_mnist_arrays(split, data_dir)
    count = min(limit or len(data), len(data))
    folder = dataset_cache_dir(NAME, cache_dir) / split
    paths = materialize_pngs(data, folder, count)
    corpus = {}
    labels = {}
    qrels: dict[str, dict[str, int]] = {}
    for index, path in enumerate(paths):
        doc_id = path.stem
        corpus[doc_id] = make_document(image=str(path))
        label = int(data.labels[index])
        labels[doc_id] = CLASS_NAMES[label]
        qrels.setdefault(f"class-{label}", {})[doc_id] = 1
    queries = {
        f"class-{label}": make_query(text=prompt.format(name.lower()))
        for label, name in enumerate(CLASS_NAMES)
        if f"class-{label}" in qrels
    }
    return RetrievalDataset(
        name=NAME,
        corpus=corpus,
        queries=queries,
        qrels={qid: qrels[qid] for qid in queries},
        metadata={
            "source": f"Debian package {APT_PACKAGE}",
            "split": split,
            "classes": list(CLASS_NAMES),
            "labels": labels,
            "image_folder": str(folder),
            "prompt": prompt,
            "license": "MIT",
        },
    )
