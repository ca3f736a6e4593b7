"""Small helpers shared by tests: real images from scikit-image and rendered text."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont


def skimage_photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def render_text(text: str, size: tuple[int, int] = (900, 160), font_size: int = 30) -> Image.Image:
    """A white image with ``text`` written in black, wrapped onto lines."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=font_size)
    words, lines, line = text.split(), [], ""
    for word in words:
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) > size[0] - 40 and line:
            lines.append(line)
            line = word
        else:
            line = trial
    lines.append(line)
    for i, line in enumerate(lines):
        draw.text((20, 20 + i * int(font_size * 1.4)), line, fill="black", font=font)
    return image


def save(image: Image.Image, path: Path) -> Path:
    image.save(path)
    return path


def require_installed_data(path: Path, packages: str) -> Path:
    """``path`` if it exists; else a one-line failure naming it and the Debian packages that
    provide it (``make test`` installs them through scripts/system-deps.sh)."""
    from nyx.benchmarks.datasets import DatasetUnavailableError

    if not path.exists():
        raise DatasetUnavailableError(f"{path} is missing: apt-get install {packages} "
                                      "(make test runs scripts/system-deps.sh, which does)")
    return path
