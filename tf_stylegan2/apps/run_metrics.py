"""`run_metrics.py`: evaluate a network with the official metrics (spec §13.7).

Takes both the TF1 flags (`--metrics=fid50k --data-dir=D --dataset=NAME --mirror-augment=true
--num-gpus=1`) and the StyleGAN2-ADA ones (`--metrics=fid50k_full,kid50k_full --data=PATH
--mirror=1 --gpus=1`). Writes `<result_dir>/<NNNNN>-run-metrics/` with `log.txt` and ADA's
`metric-<name>.jsonl`, and prints one line per metric. When the network pickle sits in a training
run directory (next to `training_options.json`), the jsonl lines also go there, and without
--data the run's dataset (and, without --mirror, its mirroring) is used, as ADA's.
"""

import json
import os
import sys

from absl import flags

import tf_stylegan2 as sg
from tf_stylegan2 import metrics
from tf_stylegan2.apps import cli
from tf_stylegan2.files import create_run_dir
from tf_stylegan2.metrics import calc, path_length

FLAGS = flags.FLAGS
_ARGS = dict(allow_override=True)


def define_flags():
    """Define this app's flags (called from `main`)."""
    flags.DEFINE_string("network", None, "Network: pickle path, URL, gdrive: alias, converted or SavedModel directory",
                        **_ARGS)
    flags.DEFINE_string("metrics", "fid50k_full", "Comma-separated metrics: %s; the count can change (fid1k, "
                        "kid10k_full, pr5k3, is200, ppl_wend1k)" % ", ".join(metrics.KNOWN_METRICS), **_ARGS)
    flags.DEFINE_string("data", None, "Dataset (ADA form): TFRecord directory, zip or image folder (default for a "
                        "training snapshot: its run's dataset)", **_ARGS)
    flags.DEFINE_string("data_dir", None, "Dataset root (TF1 form, with --dataset)", **_ARGS)
    flags.DEFINE_string("dataset", None, "Dataset name under --data-dir (TF1 form)", **_ARGS)
    flags.DEFINE_boolean("mirror", None, "Mirrored reals, as in training (ADA form; used by fid50k, kid50k, pr50k3)",
                         **_ARGS)
    flags.DEFINE_boolean("mirror_augment", None, "Same as --mirror (TF1 form)", **_ARGS)
    flags.DEFINE_integer("gpus", None, "GPUs to shard FID, KID, PR and IS over (ADA form; default 1)", lower_bound=1,
                         **_ARGS)
    flags.DEFINE_integer("num_gpus", None, "Same as --gpus (TF1 form)", lower_bound=1, **_ARGS)
    flags.DEFINE_string("result_dir", "results", "Root directory for the numbered run directories", **_ARGS)
    flags.DEFINE_string("inception", None, "Inception graph: classify_image_graph_def.pb or inception-2015-12-05.tgz "
                        "(default: downloaded once into the network cache)", **_ARGS)
    flags.DEFINE_string("vgg16", "imagenet", "VGG16 weights: 'imagenet' (Keras's download) or a Keras weights file: "
                        "the whole classifier (include_top=True) serves PR and PPL, the convolutional part PPL only",
                        **_ARGS)
    flags.DEFINE_string("cache_dir", None, "Download and statistics cache (default $TF_STYLEGAN2_CACHE or "
                        "~/.cache/tf_stylegan2)", **_ARGS)
    flags.DEFINE_integer("batch_size", 64, "Images per generator / detector call", lower_bound=1, **_ARGS)
    flags.DEFINE_boolean("verbose", True, "Progress bars on stderr", **_ARGS)


def _either(ada, tf1, default):
    a, b = FLAGS[ada].value, FLAGS[tf1].value
    if a is not None and b is not None and a != b:
        raise cli.CommandError("--%s and --%s disagree" % (ada.replace("_", "-"), tf1.replace("_", "-")))
    return default if a is None and b is None else (a if a is not None else b)


def _data_path():
    if FLAGS.data is not None and (FLAGS.data_dir is not None or FLAGS.dataset is not None):
        raise cli.CommandError("give either --data (ADA) or --data-dir with --dataset (TF1), not both")
    if (FLAGS.data_dir is None) != (FLAGS.dataset is None):
        raise cli.CommandError("--data-dir and --dataset go together (or use --data=PATH)")
    return os.path.join(FLAGS.data_dir, FLAGS.dataset) if FLAGS.data_dir is not None else FLAGS.data


def _training_set_of_network(source):
    """(dataset path, xflip) of the run that wrote the snapshot `source` (ADA's lookup of the
    pickle's `training_set_kwargs`), or (None, None) when `source` is not in a run directory."""
    for directory in _run_dirs_of_network(source):
        with open(os.path.join(directory, "training_options.json")) as f:
            tso = json.load(f).get("training_set_kwargs") or {}
        if tso.get("path"):
            return tso["path"], bool(tso.get("xflip"))
    return None, None


def _run_dirs_of_network(source):
    """The training run directory of a local pickle next to `training_options.json` (ADA), else none."""
    if not os.path.isfile(source):
        return []
    directory = os.path.dirname(os.path.abspath(source))
    return [directory] if os.path.isfile(os.path.join(directory, "training_options.json")) else []


def run_metrics():
    if not FLAGS.network:
        raise cli.CommandError("--network required")
    specs = metrics.parse_metric_list(FLAGS.metrics)
    if not specs:
        raise cli.CommandError("--metrics names no metric")
    devices = metrics.metric_devices(_either("gpus", "num_gpus", 1))
    mirror = _either("mirror", "mirror_augment", None)
    data_path = _data_path()
    if data_path is None:  # a training snapshot: its run's dataset and mirroring, as ADA's calc_metrics.py
        data_path, run_mirror = _training_set_of_network(FLAGS.network)
        mirror = run_mirror if mirror is None else mirror
    mirror = bool(mirror)
    G = sg.load_network(FLAGS.network, cache_dir=FLAGS.cache_dir).G_ema
    dataset = calc.open_metric_dataset(data_path)
    for spec in specs:
        metrics.check_inputs(spec, G, dataset)
    kinds = {spec.kind for spec in specs}
    progress = FLAGS.verbose
    inception = metrics.load_inception(FLAGS.inception, FLAGS.cache_dir, progress) if kinds & {"fid", "kid", "is"} \
        else None
    vgg16 = metrics.load_vgg16(FLAGS.vgg16) if "pr" in kinds else None
    distance = metrics.lpips_distance(FLAGS.vgg16) if "ppl" in kinds else None
    for spec in specs:
        if spec.kind == "ppl":
            path_length.check_distance_input(G, spec.crop, distance)

    run_dir = create_run_dir(FLAGS.result_dir, "run-metrics")
    log_path = os.path.join(run_dir, "log.txt")

    def log(line, stream=None):
        with open(log_path, "a") as f:
            f.write(line + "\n")
        print(line, file=stream, flush=True)

    log("run-metrics: network %s, data %s, mirror %s -> %s" % (FLAGS.network, data_path, mirror, run_dir),
        sys.stderr)
    snapshot = FLAGS.network if os.path.isfile(FLAGS.network) else None
    for spec in specs:
        result = metrics.calc_metric(spec.name, G, dataset, mirror=mirror, cache_dir=FLAGS.cache_dir,
                                     inception=inception, vgg16=vgg16, progress=progress, distance=distance,
                                     batch_size=FLAGS.batch_size, warn=lambda m: log("warning: " + m, sys.stderr),
                                     devices=devices)
        for directory in [run_dir] + _run_dirs_of_network(FLAGS.network):
            metrics.report_metric(result, directory, snapshot_pkl=snapshot)
        log(metrics.format_result_line(result, os.path.basename(FLAGS.network.rstrip("/"))))


def main():
    define_flags()
    cli.run(run_metrics)
