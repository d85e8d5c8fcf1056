"""`run_training.py`: StyleGAN2 training with the flags of NVIDIA's TF1 `run_training.py` and of
StyleGAN2-ADA / StyleGAN3 `train.py` (logic in `tf_stylegan2.training`)."""

import tensorflow as tf
from absl import flags

from tf_stylegan2 import metrics
from tf_stylegan2.apps import cli
from tf_stylegan2.networks import recompute
from tf_stylegan2.training import loop, options

FLAGS = flags.FLAGS
_ARGS = dict(allow_override=True)
# The flags that may be given with --resume=<run dir>: they apply to the continued run (kimg, snap,
# metrics, recompute and mem_budget are recorded in its training_options.json; recomputation changes
# memory and time, not results). Every other flag would change the run: an error.
RESUME_FLAGS = ("resume", "kimg", "total_kimg", "snap", "metrics", "inception", "vgg16", "gpus", "num_gpus",
                "outdir", "result_dir", "recompute", "mem_budget")


def define_flags():
    """Define this app's flags (called from `main`)."""
    # StyleGAN2-ADA / StyleGAN3 train.py
    flags.DEFINE_string("data", None, "Training data: TFRecord directory (dataset_tool.py), ADA zip or image folder",
                        **_ARGS)
    flags.DEFINE_string("outdir", None, "Where to make the run directory (default: --result-dir)", **_ARGS)
    flags.DEFINE_string("cfg", None, "Preset: %s (default auto)" % ", ".join(options.CFG_SPECS), **_ARGS)
    flags.DEFINE_integer("gpus", None, "Number of devices (alias --num-gpus)", **_ARGS)
    flags.DEFINE_float("kimg", None, "Training length in thousands of images (alias --total-kimg)", **_ARGS)
    flags.DEFINE_integer("batch", None, "Total batch size (default: from --cfg)", **_ARGS)
    flags.DEFINE_integer("batch_gpu", None, "Images per device and round: a smaller value accumulates gradients "
                         "(default: the preset's per-GPU batch, e.g. 8 for paper256 and 4 for config-f; --batch over "
                         "the devices when --batch is given)", **_ARGS)
    flags.DEFINE_integer("snap", None, "Snapshot interval in ticks (default 50; 10 with --config)", **_ARGS)
    flags.DEFINE_float("tick", None, "Progress tick length in kimg (default 4)", **_ARGS)
    flags.DEFINE_integer("seed", 0, "Random seed", **_ARGS)
    flags.DEFINE_string("resume", None, "Continue a run in place (its run directory; only --kimg, --snap, "
                        "--metrics, --inception, --vgg16 and --gpus may be given with it), or "
                        "fine-tune a network: pickle, converted directory, URL, gdrive:networks/NAME.pkl or one of %s "
                        "(noresume: neither)" % ", ".join(options.RESUME_ALIASES), **_ARGS)
    flags.DEFINE_integer("freezed", 0, "Freeze-D: number of frozen D layers from the top", **_ARGS)
    flags.DEFINE_boolean("cond", False, "Train a conditional network on the dataset's labels", **_ARGS)
    flags.DEFINE_boolean("mirror", False, "Random x-flips of the training images (alias --mirror-augment)", **_ARGS)
    flags.DEFINE_integer("cbase", None, "Channel base (ADA channel_base, default fmaps * 32768)", **_ARGS)
    flags.DEFINE_integer("cmax", None, "Maximum channels per layer (default 512)", **_ARGS)
    flags.DEFINE_integer("map", None, "Mapping network depth (default: from --cfg)", **_ARGS)
    flags.DEFINE_integer("z_dim", None, "Latent (z) size (default 512; smaller for small networks)", **_ARGS)
    flags.DEFINE_integer("w_dim", None, "Style (w) size and mapping width (default 512)", **_ARGS)
    flags.DEFINE_float("glr", None, "G learning rate (default: from --cfg)", **_ARGS)
    flags.DEFINE_float("dlr", None, "D learning rate (default: from --cfg)", **_ARGS)
    flags.DEFINE_integer("mbstd_group", None, "Minibatch-stddev group size (default: from --cfg)", **_ARGS)
    flags.DEFINE_string("aug", None, "Augmentation: noaug, ada or fixed (default ada; noaug with --config)", **_ARGS)
    flags.DEFINE_float("p", None, "Augmentation probability for --aug=fixed", **_ARGS)
    flags.DEFINE_float("target", None, "ADA target value for --aug=ada (default 0.6)", **_ARGS)
    flags.DEFINE_string("augpipe", None, "Augmentation pipeline: %s (default bgc)" % ", ".join(
        ("blit", "geom", "color", "filter", "noise", "cutout", "bg", "bgc", "bgcf", "bgcfn", "bgcfnc")), **_ARGS)
    flags.DEFINE_boolean("fp32", False, "Compute in float32 throughout (default: mixed precision for --cfg presets: "
                         "the 4 highest resolutions of G and D in float16 on GPUs, bfloat16 on TPUs, float32 on CPUs "
                         "where bfloat16 trains slower; conv_clamp 256; float32 for the TF1 --config presets)", **_ARGS)
    flags.DEFINE_enum("precision", "auto", list(options.PRECISION_CHOICES), "dtype of the mixed-precision blocks "
                      "(auto: see --fp32; fp16/bf16 also turn mixed precision on for --config; fp32 = --fp32)", **_ARGS)
    flags.DEFINE_string("inception", None, "Inception graph for FID/KID/IS: classify_image_graph_def.pb or "
                        "inception-2015-12-05.tgz (default: downloaded once into the network cache)", **_ARGS)
    flags.DEFINE_string("vgg16", None, "VGG16 weights for PR/PPL: a Keras weights file (default: Keras's imagenet "
                        "download)", **_ARGS)
    flags.DEFINE_enum("recompute", "off", list(recompute.MODES), "Recompute each G synthesis and D block's "
                      "forward pass in the backward pass instead of keeping its activations (same gradients, less "
                      "memory, slower): off, blocks (all) or auto (the largest blocks, as few as fit --mem-budget)",
                      **_ARGS)
    flags.DEFINE_float("mem_budget", None, "Memory budget in GB for --recompute=auto (default: the device's memory)",
                       **_ARGS)
    flags.DEFINE_boolean("xla", False, "Compile each training phase with XLA (jit_compile; off by default: on CPU "
                         "oneDNN's convolutions are faster)", **_ARGS)
    # TF1 run_training.py
    flags.DEFINE_string("data_dir", None, "TF1: dataset root directory", **_ARGS)
    flags.DEFINE_string("dataset", None, "TF1: dataset (TFRecord directory under --data-dir)", **_ARGS)
    flags.DEFINE_string("config", None, "TF1: config-e or config-f (instead of --cfg)", **_ARGS)
    flags.DEFINE_integer("num_gpus", None, "TF1: number of GPUs (alias --gpus)", **_ARGS)
    flags.DEFINE_float("total_kimg", None, "TF1: training length in kimg (alias --kimg)", **_ARGS)
    flags.DEFINE_float("gamma", None, "R1 regularisation weight (default: from the config)", **_ARGS)
    flags.DEFINE_boolean("mirror_augment", None, "TF1: same as --mirror", **_ARGS)
    flags.DEFINE_string("result_dir", "results", "TF1: root directory for run results", **_ARGS)
    flags.DEFINE_string("metrics", None, "Comma-separated metrics after each snapshot, or none (default fid50k_full; "
                        "fid50k with --config)", **_ARGS)


def _either(a, b, what):
    va, vb = FLAGS[a].value, FLAGS[b].value
    if va is not None and vb is not None and va != vb:
        raise cli.CommandError("--%s and --%s disagree (%s vs %s): %s" % (a.replace("_", "-"), b.replace("_", "-"),
                                                                          va, vb, what))
    return va if va is not None else vb


def _metrics():
    """--metrics (default fid50k_full, TF1's fid50k with --config) -> validated names; 'none' -> [];
    None when a run directory is resumed without --metrics (it keeps its own)."""
    if loop.is_run_dir(FLAGS.resume) and not FLAGS["metrics"].present:
        return None
    text = FLAGS.metrics if FLAGS.metrics is not None else ("fid50k" if FLAGS.config else "fid50k_full")
    return [spec.name for spec in metrics.parse_metric_list(text)]


def args_from_flags():
    """The parsed flags as the `args` dict of `loop.train` (aliases merged, TF1 spellings included)."""
    if loop.is_run_dir(FLAGS.resume):
        given = [f.name for f in cli.app_flags(__name__) if f.present and f.name not in RESUME_FLAGS]
        if given:
            raise cli.CommandError("--%s would change the run that --resume=%s continues (its options come from "
                                   "its training_options.json); drop it, or start a new run" % (
                                       given[0].replace("_", "-"), FLAGS.resume))
    if FLAGS.cfg and FLAGS.config:
        raise cli.CommandError("give --cfg (StyleGAN2-ADA presets) or --config (TF1 presets), not both")
    if FLAGS.data and (FLAGS.data_dir or FLAGS.dataset):
        raise cli.CommandError("give --data, or --data-dir with --dataset, not both")
    if bool(FLAGS.data_dir) != bool(FLAGS.dataset):
        raise cli.CommandError("--data-dir and --dataset go together")
    mirror = FLAGS.mirror or bool(FLAGS.mirror_augment)
    return dict(
        data=FLAGS.data, data_dir=FLAGS.data_dir, dataset=FLAGS.dataset, outdir=FLAGS.outdir or FLAGS.result_dir,
        cfg=FLAGS.cfg, config=FLAGS.config, gpus=_either("gpus", "num_gpus", "number of devices"),
        kimg=_either("kimg", "total_kimg", "training length"), batch=FLAGS.batch, batch_gpu=FLAGS.batch_gpu,
        snap=FLAGS.snap, tick=FLAGS.tick,
        seed=FLAGS.seed, resume=None if FLAGS.resume == "noresume" else FLAGS.resume, freezed=FLAGS.freezed,
        cond=FLAGS.cond, mirror=mirror,
        cbase=FLAGS.cbase, cmax=FLAGS.cmax, map=FLAGS.map, z_dim=FLAGS.z_dim, w_dim=FLAGS.w_dim, glr=FLAGS.glr,
        dlr=FLAGS.dlr,
        mbstd_group=FLAGS.mbstd_group, gamma=FLAGS.gamma, aug=FLAGS.aug, p=FLAGS.p, target=FLAGS.target,
        augpipe=FLAGS.augpipe, fp32=FLAGS.fp32, precision=FLAGS.precision, xla=FLAGS.xla,
        recompute=FLAGS.recompute if FLAGS["recompute"].present else None,
        mem_budget=FLAGS.mem_budget, metrics=_metrics(),
        inception=FLAGS.inception, vgg16=FLAGS.vgg16)


def train():
    try:
        loop.train(args_from_flags())
    except tf.errors.OpError as e:
        raise cli.CommandError(e.message.strip().splitlines()[0]) from None


def main():
    define_flags()
    cli.run(train)
