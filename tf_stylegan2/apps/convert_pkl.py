"""The converter app (`python -m converters.convert_pkl`): an official network pickle to Keras
weights and a TF Serving SavedModel, written atomically; see `tf_stylegan2.export.convert`."""

from absl import flags, logging

from tf_stylegan2.apps import cli
from tf_stylegan2.export.convert import convert_network

FLAGS = flags.FLAGS
# allow_override: other apps define some of the same names (network, truncation_psi).
_ARGS = dict(allow_override=True)


def define_flags():
    """Define this app's flags (called from `main`, so importing the module defines none)."""
    flags.DEFINE_string("network", None, "Official network pickle: path, http(s):// URL or gdrive:networks/<name>.pkl "
                        "(default: the packaged 32x32 emoji network).",
                        **_ARGS)
    flags.DEFINE_string("output_dir", None, "Directory to write (replaced atomically if it exists).", **_ARGS)
    flags.DEFINE_string("cache_dir", None, "Download cache (default $TF_STYLEGAN2_CACHE or ~/.cache/tf_stylegan2).",
                        **_ARGS)
    flags.DEFINE_bool("saved_model", True, "Also export G_ema as a SavedModel in <output_dir>/saved_model.", **_ARGS)
    flags.DEFINE_bool("keras_file", False, "Also write G_ema as a Keras file, <output_dir>/G_ema.keras.", **_ARGS)
    flags.DEFINE_integer("verify", 0, "Compare the Keras model and the reloaded SavedModel on seeds 0..N-1.",
                         lower_bound=0, **_ARGS)
    flags.DEFINE_float("truncation_psi", 0.5, "Truncation used by --verify.", **_ARGS)
    flags.mark_flags_as_required(["output_dir"])


def convert():
    logging.set_verbosity(logging.WARNING)  # SavedModel writing logs every step at INFO
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


def main():
    define_flags()
    cli.run(convert)
