"""`run_projector.py`: project generated or real images into a generator's latent space.

Subcommands (as the official TF1 script, plus image files, W+, saved latents and noise):
  project-generated-images [--network=PKL] --seeds=0-2 [--truncation_psi=1.0]
  project-real-images [--network=PKL] (--images=FILES|DIR|GLOB,... | --data_dir=DIR --dataset=NAME) [--num_images=N]
    [--init=encoder:PSP.pt]
Per target, under `<result_dir>/<NNNNN>-<subcommand>/`: `<prefix>target.png`, `<prefix>step%04d.png` at
the snapshot steps, `<prefix>grid.png` (target, then the snapshots, in a row), `<prefix>projected_w.npz`
(key `w`, `[1, num_ws, w_dim]`) and `.npy` (`[num_ws, w_dim]`), `<prefix>noise.npz` (`noise0..`,
`[1, r, r, 1]`), with `--save_gif` `<prefix>optimization.gif` (target | projection).
Without `--network`: the packaged 32x32 emoji network (with `--init=encoder:PSP.pt`: the encoder's decoder).
"""

import os

import numpy as np
import tensorflow as tf
from absl import flags
from PIL import Image

import tf_stylegan2 as sg
from tf_stylegan2 import files, latents, projector
from tf_stylegan2.apps import cli
from tf_stylegan2.progress import Progress
from tf_stylegan2.images import to_uint8_rounded
from tf_stylegan2.projector import targets

FLAGS = flags.FLAGS
GIF_FRAMES = 100
# allow_override: other apps define some of the same names (network, seeds, result_dir, ...).
_ARGS = dict(allow_override=True)


def define_flags():
    """Define this app's flags (called from `main`, so importing the module defines none)."""
    flags.DEFINE_string("network", None, "Network pickle (official StyleGAN2 format); default: the packaged 32x32 emoji network.", **_ARGS)
    flags.DEFINE_string("result_dir", "results", "Root of the numbered run directories.", **_ARGS)
    flags.DEFINE_integer("num_snapshots", 5, "Number of step%04d.png images per target.", **_ARGS)
    flags.DEFINE_integer("num_steps", projector.OFFICIAL.num_steps, "Optimisation steps per target.", **_ARGS)
    flags.DEFINE_enum("space", "w", projector.SPACES, "Optimise one w for all layers (official) or one per layer.",
                      **_ARGS)
    flags.DEFINE_integer("seed", 303, "Seed of the noise-buffer initialisation and the latent noise.", **_ARGS)
    flags.DEFINE_string("vgg16", "imagenet", "'imagenet' (Keras's download/cache) or a Keras VGG16 weights file.",
                        **_ARGS)
    flags.DEFINE_string("lpips_weights", None, ".npz with per-channel stage weights lin0..lin4 (optional).", **_ARGS)
    flags.DEFINE_enum("xla", "auto", ["auto", "on", "off"],
                      "Compile the step with XLA; auto: only when a GPU is visible (slower on CPU).", **_ARGS)
    flags.DEFINE_boolean("save_gif", False, "Also write <prefix>optimization.gif (target | projection).", **_ARGS)
    defaults = projector.OFFICIAL
    flags.DEFINE_integer("w_avg_samples", defaults.w_avg_samples, "Samples for the W mean and spread.", **_ARGS)
    flags.DEFINE_float("initial_learning_rate", defaults.initial_learning_rate, "Peak Adam learning rate.",
                       **_ARGS)
    flags.DEFINE_float("lr_rampup_length", defaults.lr_rampup_length, "Fraction of the steps of lr warm-up.",
                       **_ARGS)
    flags.DEFINE_float("lr_rampdown_length", defaults.lr_rampdown_length, "Fraction of the steps of lr cosine decay.",
                       **_ARGS)
    flags.DEFINE_float("initial_noise_factor", defaults.initial_noise_factor, "Latent noise at step 0, times w_std.",
                       **_ARGS)
    flags.DEFINE_float("noise_ramp_length", defaults.noise_ramp_length, "Fraction of the steps the latent noise lasts.",
                       **_ARGS)
    flags.DEFINE_float("regularize_noise_weight", defaults.regularize_noise_weight, "Noise regularisation weight.",
                       **_ARGS)
    flags.DEFINE_integer("perceptual_resolution", defaults.perceptual_resolution,
                         "Larger images are box-downsampled to about this size for the distance.", **_ARGS)
    flags.DEFINE_string("seeds", "0-2", "project-generated-images: seeds, e.g. '0-2' or '1,5,7'.", **_ARGS)
    flags.DEFINE_float("truncation_psi", 1.0, "project-generated-images: truncation of the targets.", **_ARGS)
    flags.DEFINE_list("images", None, "project-real-images: image files, directories or glob patterns.", **_ARGS)
    flags.DEFINE_string("data_dir", None, "project-real-images: root of official TFRecord datasets.", **_ARGS)
    flags.DEFINE_string("dataset", None, "project-real-images: dataset directory under --data_dir.", **_ARGS)
    flags.DEFINE_integer("num_images", None, "project-real-images: targets to project (default: all files, "
                         "3 dataset images).", **_ARGS)
    flags.DEFINE_string("init", None, "project-real-images: encoder:PSP.pt starts from a pSp encoder's W+ code and its "
                        "decoder's stored noise (space w+; the network defaults to the encoder's decoder).", **_ARGS)


def _hyperparameters():
    hp = projector.Hyperparameters(**{name: getattr(FLAGS, name) for name in projector.Hyperparameters._fields})
    if hp.num_steps < 1:
        raise cli.CommandError("--num_steps must be at least 1, got %d" % hp.num_steps)
    if FLAGS.num_snapshots < 1:
        raise cli.CommandError("--num_snapshots must be at least 1, got %d" % FLAGS.num_snapshots)
    return hp


def _use_xla():
    if FLAGS.xla == "auto":
        return bool(tf.config.list_physical_devices("GPU"))
    return FLAGS.xla == "on"


def _network():
    return sg.load_network(FLAGS.network).G_ema


def _projector(G, hp, space=None):
    linear = projector.load_linear_weights(FLAGS.lpips_weights) if FLAGS.lpips_weights else None
    distance = projector.PerceptualDistance(projector.vgg16_backbone(FLAGS.vgg16), linear)
    return projector.Projector(G, distance, space=space or FLAGS.space, hyperparameters=hp, jit=_use_xla(),
                               seed=FLAGS.seed)


def _init_encoder():
    """The pSp encoder named by `--init=encoder:PATH` (decoding with --network when given), or None."""
    if FLAGS.init is None:
        return None
    kind, _, path = FLAGS.init.partition(":")
    if kind != "encoder" or not path:
        raise cli.CommandError("--init must be encoder:PSP.pt, got %r" % FLAGS.init)
    if FLAGS["space"].present and FLAGS.space != "w+":
        raise cli.CommandError("--init=encoder: starts from a W+ code: use --space=w+ (or leave --space out)")
    return sg.load_encoder(path, decoder=_network() if FLAGS.network else None)


def project(proj, target, run_dir, prefix, num_snapshots, save_gif=False, w=None):
    """Project one target `[1, R, R, C]` in [-1, 1] and write its files, starting from `w` `[1, num_ws, w_dim]`
    when given. Returns the distances per step."""
    target_u8 = to_uint8_rounded(target[0])
    files.save_png(os.path.join(run_dir, prefix + "target.png"), target_u8)
    snapshots = projector.snapshot_steps(proj.hp.num_steps, num_snapshots)
    gif_every = max(1, proj.hp.num_steps // GIF_FRAMES)
    frames, distances, strip = [], [], [target_u8]
    progress = Progress(total=proj.hp.num_steps, desc=prefix + "project")
    for result in proj.run(target, w):
        distances.append(result.distance)
        progress.update(1, status="dist %.4f" % result.distance)
        if result.step in snapshots or (save_gif and result.step % gif_every == 0):
            image = to_uint8_rounded(proj.images()[0])
            if result.step in snapshots:
                files.save_png(os.path.join(run_dir, prefix + "step%04d.png" % result.step), image)
                strip.append(image)
            if save_gif and result.step % gif_every == 0:
                frames.append(np.concatenate([target_u8, image], axis=1))
    progress.close()
    files.save_png(os.path.join(run_dir, prefix + "grid.png"), np.concatenate(strip, axis=1))
    w = proj.w()
    latents.save_latents(os.path.join(run_dir, prefix + "projected_w.npz"), w)
    latents.save_latents(os.path.join(run_dir, prefix + "projected_w.npy"), w)
    latents.save_noise(os.path.join(run_dir, prefix + "noise.npz"), proj.noise())
    if save_gif:
        _save_gif(os.path.join(run_dir, prefix + "optimization.gif"), frames)
    print("%s: distance %.4f -> %.4f after %d steps" % (prefix.rstrip("-"), distances[0], distances[-1],
                                                         len(distances)))
    return distances


def _save_gif(path, frames):
    """uint8 `[H, W, C]` frames -> an animated GIF (10 fps, looping), atomically."""
    images = [Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames]
    with files.atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=100, loop=0)


def project_generated_images():
    """Project the images of --seeds (made as generate-images makes them) back into the latent space."""
    hp = _hyperparameters()
    seeds = cli.parse_int_list(FLAGS.seeds, "seed")
    G = _network()
    generated = []
    for seed in seeds:
        z, noise = sg.seeded_noise(seed, G.z_dim, G.synthesis.num_noise, G.synthesis.noise_resolution)
        ws = G.mapping(z, None, truncation_psi=FLAGS.truncation_psi)
        generated.append((seed, G.synthesis(ws, noise=noise).numpy()))
    proj = _projector(G, hp)
    run_dir = files.create_run_dir(FLAGS.result_dir, "project-generated-images")
    for seed, target in generated:
        project(proj, target, run_dir, "seed%04d-" % seed, FLAGS.num_snapshots, FLAGS.save_gif)
    print("results in %s" % run_dir)


def _real_targets(G):
    """All targets, read before anything is written: list of (target, note or None, source name)."""
    if FLAGS.images and (FLAGS.data_dir or FLAGS.dataset):
        raise cli.CommandError("give either --images or --data_dir/--dataset, not both")
    if FLAGS.num_images is not None and FLAGS.num_images < 1:
        raise cli.CommandError("--num_images must be at least 1, got %d" % FLAGS.num_images)
    if FLAGS.images:
        paths = targets.image_paths(FLAGS.images)[:FLAGS.num_images]
        return [targets.load_image(p, G.img_resolution, G.img_channels) + (p,) for p in paths]
    if not (FLAGS.data_dir and FLAGS.dataset):
        raise cli.CommandError("give --images, or --data_dir and --dataset")
    path = targets.tfrecord_path(FLAGS.data_dir, FLAGS.dataset)
    num = 3 if FLAGS.num_images is None else FLAGS.num_images
    return [(t, note, "%s[%d]" % (path, i)) for i, (t, note) in
            enumerate(targets.tfrecord_images(path, G.img_resolution, G.img_channels, num))]


def project_real_images():
    """Project image files (--images) or an official TFRecord dataset (--data-dir, --dataset) into the
    latent space; other sizes and shapes are centre-cropped and resized."""
    hp = _hyperparameters()
    encoder = _init_encoder()
    G = encoder.decoder if encoder else _network()
    real = _real_targets(G)
    proj = _projector(G, hp, "w+" if encoder else None)
    run_dir = files.create_run_dir(FLAGS.result_dir, "project-real-images")
    for i, (target, note, source) in enumerate(real):
        prefix = "image%04d-" % i
        print("%s: %s%s" % (prefix.rstrip("-"), source, " (%s)" % note if note else ""))
        w = encoder.encode(to_uint8_rounded(target[0])) if encoder else None
        project(proj, target, run_dir, prefix, FLAGS.num_snapshots, FLAGS.save_gif, w)
    print("results in %s" % run_dir)


def main():
    define_flags()
    cli.run({"project-generated-images": project_generated_images, "project-real-images": project_real_images})
