"""The converter app (`python -m converters.convert_pkl`): an official network pickle to Keras
weights and a TF Serving SavedModel, written atomically; see `tf_stylegan2.export.convert`.
`--to=rosinality --output=model.pt`: any Keras source to a rosinality/stylegan2-pytorch checkpoint
instead (`tf_stylegan2.rosinality.save_rosinality`). `--encoder=PSP.pt --output_dir=DIR`: a pSp encoder's
SavedModel (`tf_stylegan2.export.encoder_saved_model`)."""

from absl import flags, logging

import tf_stylegan2 as sg
from tf_stylegan2 import rosinality, sources
from tf_stylegan2.apps import cli
from tf_stylegan2.export.convert import convert_network
from tf_stylegan2.export.encoder_saved_model import convert_encoder

FLAGS = flags.FLAGS
# allow_override: other apps define some of the same names (network, truncation_psi).
_ARGS = dict(allow_override=True)


def define_flags():
    """Define this app's flags (called from `main`, so importing the module defines none)."""
    flags.DEFINE_string("network", None, "Official network pickle: path, http(s):// URL or gdrive:networks/<name>.pkl "
                        "(default: the packaged 32x32 emoji network).",
                        **_ARGS)
    flags.DEFINE_string("output_dir", None, "Directory to write (replaced atomically if it exists).", **_ARGS)
    flags.DEFINE_enum("to", "keras", ["keras", "rosinality"], "keras: a converted directory (--output_dir); "
                      "rosinality: a rosinality/stylegan2-pytorch checkpoint .pt (--output).", **_ARGS)
    flags.DEFINE_string("output", None, "File to write with --to=rosinality (replaced atomically).", **_ARGS)
    flags.DEFINE_string("cache_dir", None, "Download cache (default $TF_STYLEGAN2_CACHE or ~/.cache/tf_stylegan2).",
                        **_ARGS)
    flags.DEFINE_bool("saved_model", True, "Also export G_ema as a SavedModel in <output_dir>/saved_model.", **_ARGS)
    flags.DEFINE_bool("keras_file", False, "Also write G_ema as a Keras file, <output_dir>/G_ema.keras.", **_ARGS)
    flags.DEFINE_integer("verify", 0, "Compare the Keras model and the reloaded SavedModel on seeds 0..N-1.",
                         lower_bound=0, **_ARGS)
    flags.DEFINE_float("truncation_psi", 0.5, "Truncation used by --verify.", **_ARGS)
    flags.DEFINE_string("encoder", None, "A pSp checkpoint (.pt) instead of --network: <output_dir>/saved_model gets "
                        "its encode (uint8 images -> W+) and encode_decode (uint8 -> uint8) signatures.", **_ARGS)


def convert():
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs every step at INFO
    if FLAGS.to == "rosinality":
        return export_rosinality()
    if not FLAGS.output_dir:
        raise cli.CommandError("--output_dir is required (or --to=rosinality --output=model.pt)")
    if FLAGS.encoder:
        if FLAGS.network or FLAGS.verify or FLAGS.keras_file or not FLAGS.saved_model:
            raise cli.CommandError("--encoder writes the encoder's SavedModel only: drop --network, --verify, "
                                   "--keras_file and --nosaved_model")
        convert_encoder(sg.load_encoder(FLAGS.encoder), FLAGS.output_dir)
        print("wrote %s" % FLAGS.output_dir)
        return
    if FLAGS.verify and not FLAGS.saved_model:
        raise cli.CommandError("--verify needs the SavedModel: drop --nosaved_model")
    report = convert_network(FLAGS.network, FLAGS.output_dir, cache_dir=FLAGS.cache_dir,
                             saved_model=FLAGS.saved_model, verify_seeds=FLAGS.verify,
                             truncation_psi=FLAGS.truncation_psi, keras_file=FLAGS.keras_file)
    if report:
        print("verify: %d seeds, truncation_psi=%g: max-abs w %.3g, float image %.3g, uint8 image %d LSB"
              % (report["seeds"], FLAGS.truncation_psi, report["w_max_abs"], report["float_max_abs"],
                 report["uint8_max_abs"]))
    print("wrote %s" % FLAGS.output_dir)


def export_rosinality():
    if not FLAGS.output or FLAGS.output_dir:
        raise cli.CommandError("--to=rosinality writes one file: give --output=model.pt (not --output_dir)")
    nets = sources.load_network(FLAGS.network, cache_dir=FLAGS.cache_dir, progress=True)
    call = rosinality.save_rosinality(nets, FLAGS.output)
    print("wrote %s (g_ema, latent_avg%s); rosinality: %s" % (FLAGS.output, "".join(
        ", " + k for k, net in (("g", nets.G), ("d", nets.D)) if net is not None), call))


def main():
    define_flags()
    cli.run(convert)
