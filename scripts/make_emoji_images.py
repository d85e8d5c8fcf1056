"""Render the Noto Color Emoji glyphs into a folder of RGB PNGs: the default network's training set.

    python scripts/make_emoji_images.py --out=datasets/emoji-images [--size=64]

Needs the Noto Color Emoji font (Debian/Ubuntu: `apt-get install fonts-noto-color-emoji`; SIL Open
Font License 1.1). Every single-code-point emoji the font has in the emoji blocks is drawn at the
font's bitmap size (109 px, `embedded_color=True`), composited over white, centred on a square
canvas by its alpha bounding box and LANCZOS-resized to `--size`. File names are the code points
(`u1f600.png`), so the set is the same on every machine with the same font version.
"""

import os
import sys

import numpy as np
from absl import app, flags
from PIL import Image, ImageDraw, ImageFont

FONT_PATHS = ("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf",
              "/usr/share/fonts/noto/NotoColorEmoji.ttf")
BLOCKS = ((0x1F000, 0x1F2FF), (0x1F300, 0x1FAFF), (0x2190, 0x21FF), (0x2300, 0x23FF),
          (0x2600, 0x27BF), (0x2B00, 0x2BFF))
BITMAP_SIZE = 109  # the only size the font's colour bitmaps have

flags.DEFINE_string("out", None, "Output folder (created; must not hold PNGs yet).")
flags.DEFINE_integer("size", 64, "Output resolution (square).", lower_bound=4)
flags.DEFINE_string("font", None, "Path to NotoColorEmoji.ttf (default: the Debian package's).")
FLAGS = flags.FLAGS


def glyph_rgba(font, code_point):
    """The glyph as an RGBA uint8 array cropped to its alpha bounding box, or None if the font lacks it."""
    canvas = Image.new("RGBA", (2 * BITMAP_SIZE, 2 * BITMAP_SIZE), (0, 0, 0, 0))
    ImageDraw.Draw(canvas).text((BITMAP_SIZE // 2, BITMAP_SIZE // 2), chr(code_point), font=font,
                                embedded_color=True)
    box = canvas.getchannel("A").getbbox()
    return None if box is None else canvas.crop(box)


def square_on_white(glyph, size):
    """Centre the glyph on a white square of its larger side, then resize to `size` (RGB uint8)."""
    side = max(glyph.size)
    square = Image.new("RGBA", (side, side), (255, 255, 255, 255))
    square.alpha_composite(glyph, ((side - glyph.size[0]) // 2, (side - glyph.size[1]) // 2))
    return square.convert("RGB").resize((size, size), Image.LANCZOS)


def main(_):
    font_path = FLAGS.font or next((p for p in FONT_PATHS if os.path.exists(p)), None)
    if font_path is None:
        sys.exit("make_emoji_images: error: Noto Color Emoji not found: apt-get install fonts-noto-color-emoji "
                 "or pass --font")
    if not FLAGS.out:
        sys.exit("make_emoji_images: error: --out is required")
    font = ImageFont.truetype(font_path, BITMAP_SIZE)
    os.makedirs(FLAGS.out, exist_ok=True)
    if any(name.endswith(".png") for name in os.listdir(FLAGS.out)):
        sys.exit("make_emoji_images: error: %s already holds PNGs" % FLAGS.out)
    count = 0
    for lo, hi in BLOCKS:
        for code_point in range(lo, hi + 1):
            glyph = glyph_rgba(font, code_point)
            if glyph is None or min(glyph.size) < 8:
                continue
            square_on_white(glyph, FLAGS.size).save(os.path.join(FLAGS.out, "u%05x.png" % code_point))
            count += 1
    print("make_emoji_images: %d emoji at %dx%d in %s" % (count, FLAGS.size, FLAGS.size, FLAGS.out))


if __name__ == "__main__":
    app.run(main)
