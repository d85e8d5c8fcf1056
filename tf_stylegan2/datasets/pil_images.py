"""Pillow images -> uint8 arrays: mode conversion (any Pillow format) and the size transforms of
StyleGAN2-ADA's dataset_tool (`center-crop`, `center-crop-wide`) plus a plain `resize`."""

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tf_stylegan2.datasets.errors import DatasetError

TRANSFORMS = ("center-crop", "center-crop-wide", "resize")
RESIZE_FILTERS = {"box": Image.BOX, "lanczos": Image.LANCZOS}
_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def image_extensions():
    """Lower-case file extensions Pillow can open (ADA's `PIL.Image.EXTENSION`), e.g. '.png'."""
    return {ext.lower() for ext in Image.registered_extensions()}


def open_image(path_or_file, name):
    """Open and fully decode an image file (path or binary file object).

    Raises:
      DatasetError: not a readable image; the message names `name`.
    """
    try:
        with Image.open(path_or_file) as img:
            img.load()
            return ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatasetError("%s: not a readable image (%s)" % (name, text)) from None


def natural_channels(img):
    """1 for greyscale modes (with or without alpha, 16-bit, float), 3 for everything else."""
    return 1 if img.mode in _GREY_MODES else 3


def to_mode(img, channels):
    """Any Pillow mode -> "L" (channels 1) or "RGB" (channels 3).

    Returns (image, note): the note says what was converted ("RGBA composited over white",
    "16-bit greyscale reduced to 8 bits", ...) or is None for L/RGB input of the wanted channels.
    Transparency is composited over white; 16- and 32-bit greyscale keep their top 8 bits.
    """
    notes = []
    mode = img.mode
    if mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        img = Image.fromarray((np.clip(np.asarray(img, np.int64), 0, 65535) >> 8).astype(np.uint8))
        notes.append("16-bit greyscale reduced to 8 bits")
    elif mode == "F":
        img = Image.fromarray(np.clip(np.rint(np.asarray(img, np.float32)), 0, 255).astype(np.uint8))
        notes.append("float greyscale rounded to 8 bits")
    if mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
        notes.append("%s composited over white" % mode)
    target = "RGB" if channels == 3 else "L"
    if img.mode != target:
        notes.append("%s converted to %s" % (img.mode, target))
        img = img.convert(target)
    return img, ("; ".join(notes) if notes else None)


def to_array(img):
    """An "L" or "RGB" Pillow image -> uint8 `[H, W, C]` (C = 1 or 3)."""
    array = np.asarray(img, np.uint8)
    return array[:, :, np.newaxis] if array.ndim == 2 else array


def transform(img, kind, width, height, resize_filter="lanczos"):
    """StyleGAN2-ADA's size transforms on an "L"/"RGB" Pillow image.

    kind None: resize to (width, height) where they are given and differ (a missing one keeps the source
    size); "center-crop": centre square of side min(H, W), then resize; "center-crop-wide": keep the
    centred round(width*H/W) rows, resize to width x height, paste vertically centred on a black
    width x width canvas (returns None: the image is dropped, when W < width or those rows < height);
    "resize": resize to width x height, aspect ratio not kept.
    """
    flt = RESIZE_FILTERS[resize_filter]
    w, h = img.size
    if kind is None:
        size = (width or w, height or h)
        return img if size == (w, h) else img.resize(size, flt)
    if kind == "resize":
        return img if (w, h) == (width, height) else img.resize((width, height), flt)
    if kind == "center-crop":
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        return img if img.size == (width, height) else img.resize((width, height), flt)
    if kind == "center-crop-wide":
        ch = int(np.round(width * h / w))
        if w < width or ch < height:
            return None
        img = img.crop((0, (h - ch) // 2, w, (h + ch) // 2))
        img = img if img.size == (width, height) else img.resize((width, height), flt)
        canvas = Image.new(img.mode, (width, width))
        canvas.paste(img, (0, (width - height) // 2))
        return canvas
    raise DatasetError("unknown transform %r (known: %s)" % (kind, ", ".join(TRANSFORMS)))
