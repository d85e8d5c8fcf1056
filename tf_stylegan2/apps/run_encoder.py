"""`run_encoder.py`: encode images with a pixel2style2pixel (pSp) encoder, in one forward pass each.

  encode --encoder=PSP.pt --images=FILES|DIR|GLOB,... [--decoder=NETWORK] [--resize-outputs] [--batch=N]

Per image, under `<result_dir>/<NNNNN>-encode/`, with the prefix `<index>-<file stem>-`:
`reconstruction.png` (the decoder's image of the code), `side_by_side.png` (the input resized to
the output size | the reconstruction), `projected_w.npz` (key `w`, `[1, num_ws, w_dim]`: the
projector's format, read by generate-from-latents, mix-latents, edit-latents and the demo) and
`dst.npy` (`[num_ws, w_dim]`, PaddleGAN's Pixel2Style2Pixel output).

Images are preprocessed as pSp's inference (RGB, PIL bilinear resize to the encoder's input size,
`(x / 255 - 0.5) / 0.5`). pSp's face encoders expect FFHQ-aligned crops: align photos first
(e.g. with the FFHQ alignment script and dlib's 68-landmark model, as pSp's
`scripts/align_all_parallel.py`). encoder4editing (e4e) checkpoints load the same way.
`--decoder` renders the codes with another generator of the same num_ws and w_dim (pSp's toonify
trick: encode with the FFHQ encoder, decode with a blended network).
"""

import os

import numpy as np
from absl import flags

import tf_stylegan2 as sg
from tf_stylegan2 import files, latents
from tf_stylegan2.apps import cli
from tf_stylegan2.encoders import preprocess
from tf_stylegan2.images import to_uint8_rounded
from tf_stylegan2.progress import Progress
from tf_stylegan2.projector import targets

FLAGS = flags.FLAGS
# allow_override: other apps define some of the same names (images, result_dir).
_ARGS = dict(allow_override=True)


def define_flags():
    """Define this app's flags (called from `main`, so importing the module defines none)."""
    flags.DEFINE_string("encoder", None, "pSp checkpoint (.pt, e.g. psp_ffhq_encode.pt).", **_ARGS)
    flags.DEFINE_list("images", None, "Image files, directories or glob patterns.", **_ARGS)
    flags.DEFINE_string("decoder", None, "Render with this network instead of the checkpoint's decoder (pickle, "
                        "rosinality .pt, URL, alias, converted or SavedModel directory).", **_ARGS)
    flags.DEFINE_boolean("resize_outputs", False, "Average-pool the outputs to 256x256 (pSp's --resize_outputs).",
                         **_ARGS)
    flags.DEFINE_integer("batch", 4, "Images encoded per forward pass.", lower_bound=1, **_ARGS)
    flags.DEFINE_string("result_dir", "results", "Root of the numbered run directories.", **_ARGS)


def load_encoder(path, decoder_source=None):
    """`sg.load_encoder(path)`, decoding with `sg.load_network(decoder_source).G_ema` when given."""
    decoder = sg.load_network(decoder_source).G_ema if decoder_source else None
    return sg.load_encoder(path, decoder=decoder)


def _prefix(index, path):
    return "%04d-%s-" % (index, os.path.splitext(os.path.basename(path))[0])


def write_outputs(run_dir, prefix, image, w, reconstruction):
    """One image's files: `image` uint8 `[H, W, 3]`, `w` `[num_ws, w_dim]`, `reconstruction` float `[R, R, C]`."""
    out = to_uint8_rounded(reconstruction)
    files.save_png(os.path.join(run_dir, prefix + "reconstruction.png"), out)
    source = preprocess.resize(image, out.shape[0])
    files.save_png(os.path.join(run_dir, prefix + "side_by_side.png"), np.concatenate([source, out], axis=1))
    latents.save_latents(os.path.join(run_dir, prefix + "projected_w.npz"), w)
    latents.save_latents(os.path.join(run_dir, prefix + "dst.npy"), w)


def encode():
    """Encode --images with the pSp encoder --encoder in one forward pass each and write, per image, the
    reconstruction, a side-by-side PNG and the W+ code (projected_w.npz, dst.npy)."""
    if not FLAGS.encoder:
        raise cli.CommandError("give --encoder (a pSp checkpoint)")
    if not FLAGS.images:
        raise cli.CommandError("give --images (files, directories or glob patterns)")
    paths = targets.image_paths(FLAGS.images)
    batch_size = min(FLAGS.batch, len(paths))
    psp = load_encoder(FLAGS.encoder, FLAGS.decoder)
    run_dir = files.create_run_dir(FLAGS.result_dir, "encode")
    progress = Progress(total=len(paths), desc="encode")
    for start in range(0, len(paths), batch_size):
        batch = paths[start:start + batch_size]
        images = [preprocess.read_rgb(p) for p in batch]
        inputs = np.stack([preprocess.resize(im, psp.input_size) for im in images])
        # a short last batch is padded: one batch shape, so the decoder's graph is traced once
        inputs = np.concatenate([inputs, np.repeat(inputs[-1:], batch_size - len(batch), axis=0)])
        ws = psp.encode(inputs)
        outputs = psp.decode(ws, FLAGS.resize_outputs).numpy()
        for i, path in enumerate(batch):
            write_outputs(run_dir, _prefix(start + i, path), images[i], ws[i], outputs[i])
        progress.update(len(batch))
    progress.close()
    print("encoded %d image(s) into %s" % (len(paths), run_dir))


def main():
    define_flags()
    cli.run({"encode": encode})
