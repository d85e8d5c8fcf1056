"""`run_demo.py`: a local web page to explore one network (needs `pip install -e ".[demo]"`).

Tabs: Generate (seed, truncation, noise, class; PNG and w downloads), Style mixing (row/column
seeds, layer presets and per-layer weights), Editing (SeFa directions as sliders), Projection (an
uploaded image projected with the project's projector, or encoded in one pass with
--encoder=psp.pt). Serves http://127.0.0.1:7860/ until
Ctrl-C, to this machine only unless --host says otherwise; there is no --share (no public link).
Downloads go to a temporary directory removed when the server stops.
"""

import logging
import os
import tempfile

import tensorflow as tf
from absl import flags

import tf_stylegan2 as sg
from tf_stylegan2.apps import cli
from tf_stylegan2.demo.explorer import Explorer

FLAGS = flags.FLAGS
_ARGS = dict(allow_override=True)  # other apps define --network too


def define_flags():
    """Define this app's flags (called from `main`)."""
    flags.DEFINE_string("network", None, "Network: pickle path, URL, alias, converted or SavedModel directory "
                        "(SavedModel: generation and style mixing only); default: the packaged 32x32 emoji network",
                        **_ARGS)
    flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (default: this machine only). There is no "
                        "--share: the page is never published through a public link", **_ARGS)
    flags.DEFINE_integer("port", 7860, "Port to listen on", lower_bound=1, upper_bound=65535, **_ARGS)
    flags.DEFINE_string("vgg16", "imagenet", "Projection's VGG16 weights: 'imagenet' (Keras's download/cache) or a "
                        "Keras VGG16 weights file (offline)", **_ARGS)
    flags.DEFINE_string("encoder", None, "pSp checkpoint (.pt) for one-pass encoding on the Projection tab; without "
                        "--network its own decoder is the network explored", **_ARGS)
    flags.DEFINE_string("lpips_weights", None, "Projection: .npz with LPIPS per-channel weights lin0..lin4 (optional)",
                        **_ARGS)


def _check_file(flag):
    path = FLAGS[flag].value
    if path is not None and not os.path.isfile(path):
        raise cli.CommandError("--%s: no such file %s" % (flag.replace("_", "-"), path))


def serve():
    if FLAGS.vgg16 != "imagenet":
        _check_file("vgg16")
    _check_file("lpips_weights")
    _check_file("encoder")
    try:
        from tf_stylegan2.demo import ui
    except ImportError as e:
        raise cli.CommandError("the demo needs Gradio (%s): pip install -e \".[demo]\"" % e) from None
    # absl logs at INFO: keep Gradio's HTTP client (its start-up check) quiet, and TensorFlow's
    # retracing advice (warm-up and the projector's first run trace on purpose)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    tf.get_logger().setLevel(logging.ERROR)
    G = None if FLAGS.network is None and FLAGS.encoder else sg.load_network(FLAGS.network).G_ema
    encoder = sg.load_encoder(FLAGS.encoder, decoder=G) if FLAGS.encoder else None
    explorer = Explorer(G or encoder.decoder, vgg16=FLAGS.vgg16, lpips_weights=FLAGS.lpips_weights, encoder=encoder)
    print("tracing the generator...", flush=True)
    explorer.warm_up()
    with tempfile.TemporaryDirectory(prefix="tf-stylegan2-demo-") as downloads:
        name = FLAGS.network or ("the decoder of %s" % FLAGS.encoder if FLAGS.encoder else
                                 "default (packaged 32x32 emoji network)")
        page = ui.build_demo(explorer, name, downloads)
        print("serving http://%s:%d/ (Ctrl-C stops)" % (FLAGS.host, FLAGS.port), flush=True)
        try:
            ui.launch(page, FLAGS.host, FLAGS.port)
        except KeyboardInterrupt:  # a second Ctrl-C while Gradio closes the server: stop all the same
            pass
        except OSError as e:
            raise cli.CommandError("cannot serve on %s:%d (in use or not allowed): pick another --port or --host"
                                   % (FLAGS.host, FLAGS.port)) from e


def main():
    define_flags()
    cli.run(serve)
