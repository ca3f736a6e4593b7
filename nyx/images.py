"""Safe image loading: clear errors, EXIF orientation, no decompression bombs, bounded size."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

ImageSource = str | Path | bytes | Image.Image

#: Images with more pixels than this are refused (a decompression bomb or a mistake).
MAX_PIXELS = 64_000_000
#: Images whose longer side exceeds this are downscaled before encoding.
MAX_SIDE = 1024

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
#: The only decoders Pillow may use, whatever a file's name or first bytes claim. Others can run
#: external programs (EPS and PostScript hand the file to Ghostscript) or are rarely audited.
ALLOWED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


def open_image(source: str | Path | io.BytesIO | object) -> Image.Image:
    """``Image.open`` restricted to :data:`ALLOWED_FORMATS` (a path or a binary file object).

    Raises ``PIL.UnidentifiedImageError`` for anything else, e.g. PostScript inside a ``.png``.
    """
    return Image.open(source, formats=ALLOWED_FORMATS)  # type: ignore[arg-type]


class ImageLoadError(ValueError):
    """An image could not be read. The message names the file and the reason."""


def describe_source(source: ImageSource) -> str:
    """A short human-readable name for an image source, used in error messages."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.size[0]}x{source.size[1]} {source.mode}>"
    return repr(source)


def _open(source: ImageSource) -> Image.Image:
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ImageLoadError(f"image file not found: {path}")
        if not path.is_file():
            raise ImageLoadError(f"image path is not a file: {path}")
        return open_image(path)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return open_image(io.BytesIO(bytes(source)))
    raise TypeError(
        f"unsupported image type {type(source).__name__}: pass a file path, bytes or a PIL image"
    )


def load_image(
    source: ImageSource, *, max_pixels: int = MAX_PIXELS, max_side: int | None = MAX_SIDE
) -> Image.Image:
    """Open an image as RGB, oriented by its EXIF tag and downscaled to at most ``max_side``.

    Raises :class:`ImageLoadError` naming the file for missing, corrupt or oversized images.
    """
    name = describe_source(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = _open(source)
            width, height = image.size
            if width * height > max_pixels:
                raise ImageLoadError(
                    f"image {name} has {width}x{height} = {width * height:,} pixels, more than "
                    f"the limit of {max_pixels:,}; downscale it or raise max_pixels"
                )
            if max_side is not None and max(width, height) > 2 * max_side:
                # Let JPEG decoders skip work: draft() decodes at a reduced scale.
                image.draft("RGB", (max_side, max_side))
            image.load()
            image = ImageOps.exif_transpose(image)
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageLoadError(f"image {name} refused as a decompression bomb: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(f"cannot identify image {name}: not an image, corrupt, or not one "
                             f"of the formats read ({', '.join(ALLOWED_FORMATS)})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageLoadError(f"cannot read image {name}: {exc}") from exc
    if image.mode != "RGB":
        image = _to_rgb(image)
    if max_side is not None and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side), Image.Resampling.BICUBIC)
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert to RGB, compositing transparency onto white (clip-art and icons are often RGBA)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def is_image_path(path: str | Path) -> bool:
    """Whether ``path`` has a known image file suffix."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
