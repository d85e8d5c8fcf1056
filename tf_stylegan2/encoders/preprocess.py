"""pSp's inference preprocessing (`transform_inference` of its encode datasets), with Pillow:
RGB, `Resize((S, S))` (PIL's bilinear filter, antialiased when shrinking, aspect ratio not kept),
`ToTensor()` and `Normalize([0.5] * 3, [0.5] * 3)`: `(x / 255 - 0.5) / 0.5`.

pSp's face encoders were trained on FFHQ-aligned crops (dlib's 68 landmarks, FFHQ's alignment):
unaligned photos encode poorly. Nothing here aligns faces.
"""

import numpy as np
from PIL import Image

from tf_stylegan2.datasets import pil_images


def read_rgb(path):
    """An image file as uint8 `[H, W, 3]` (`Image.open(path).convert('RGB')`, after the EXIF orientation).

    Raises:
      ValueError: not a readable image.
    """
    return np.asarray(pil_images.open_image(path, path).convert("RGB"), np.uint8)


def resize(image, size):
    """uint8 `[H, W, C]` -> uint8 `[size, size, C]` with PIL's bilinear filter (torchvision's
    `Resize((size, size))` on a PIL image); unchanged when already that size."""
    image = np.asarray(image, np.uint8)
    if image.shape[:2] == (size, size):
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR), np.uint8)


def normalize(images):
    """uint8 `[..., C]` -> float32 in [-1, 1]: `(x / 255 - 0.5) / 0.5`, in float32 as torchvision computes it."""
    x = np.asarray(images).astype(np.float32) / np.float32(255)
    return (x - np.float32(0.5)) / np.float32(0.5)


def encoder_inputs(images, size, channels=3):
    """Images -> the encoder's float32 input `[N, size, size, channels]` in [-1, 1].

    Args:
      images: uint8 `[N, H, W, channels]` or `[H, W, channels]` (resized with `resize`, then
        `normalize`d), or floats in [-1, 1] already `[N, size, size, channels]` (used as they are).
    Raises:
      ValueError: a rank, channel count or (for floats) size that does not fit.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[np.newaxis]
    if images.ndim != 4 or images.shape[-1] != channels or images.shape[0] == 0:
        raise ValueError("images must be [N, H, W, %d] (NHWC), got shape %s" % (channels, list(images.shape)))
    if images.dtype == np.uint8:
        return normalize(np.stack([resize(im, size) for im in images]))
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError("images must be uint8 or floats in [-1, 1], got %s" % images.dtype)
    if images.shape[1:3] != (size, size):
        raise ValueError("float images must already be %dx%d (the encoder's input size), got %dx%d; "
                         "pass uint8 images to have them resized" % (size, size, images.shape[1], images.shape[2]))
    return images.astype(np.float32)
