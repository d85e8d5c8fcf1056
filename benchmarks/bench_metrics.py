"""Benchmark: metric throughput, images/s through generator + detector, and the maths.

    PYTHONPATH=. python3 benchmarks/bench_metrics.py --networks=tests/data/orig/network.pkl,\\
        tests/data/public/network.pkl [--inception=inception-2015-12-05.tgz] [--images=256]

Per network: generation alone (`G(z, c)` at psi 1, random noise, uint8, in `--batch_size`
batches, as the metrics make their fakes), then generation + Inception (FID/KID/IS) and
generation + VGG16 fc2 (PR). Without `--inception`, a Keras InceptionV3 with random weights at
299x299 stands in for the graph (the same architecture, so about the same cost); VGG16 has random
weights (same cost as ImageNet's). The first batch (tracing) is not timed. Then the float64 maths
on 50k-sized inputs: FID from 2048-d statistics, KID (100 subsets of 1000), PR on `--pr_size` points.
"""

import time

import numpy as np
from absl import app, flags

flags.DEFINE_list("networks", ["tests/data/orig/network.pkl", "tests/data/public/network.pkl"],
                  "Network sources to generate with.")
flags.DEFINE_string("inception", None, "classify_image_graph_def.pb / inception-2015-12-05.tgz (default: a stand-in)")
flags.DEFINE_integer("images", 256, "Timed images per measurement (after the first batch).")
flags.DEFINE_integer("batch_size", 64, "Images per generator / detector call.")
flags.DEFINE_integer("pr_size", 10000, "Real and generated feature count for the PR timing.")
FLAGS = flags.FLAGS


class KerasInceptionStandIn:
    """Cost stand-in for the Inception graph: Keras InceptionV3 (random weights), 299x299, avg pool 2048."""

    def __init__(self):
        import keras
        import tensorflow as tf
        model = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                               input_shape=(299, 299, 3))

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
        def features(x):
            return model(tf.image.resize(x, [299, 299]) / 127.5 - 1.0, training=False)

        self._fn = features

    def features(self, images):
        return self._fn(np.asarray(images, np.float32)).numpy()


def rate(G, extract, images, batch_size):
    """Images per second through generation (+ `extract`), after one untimed batch."""
    from tf_stylegan2.metrics import features
    batches = features.generated_images(G, images + batch_size, None, batch_size, seed=0)
    first = next(batches)
    if extract:
        extract(first)
    t0 = time.perf_counter()
    count = 0
    for img in batches:
        if extract:
            extract(img)
        count += len(img)
    return count / (time.perf_counter() - t0)


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


def main(argv):
    del argv
    import tensorflow as tf
    import tf_stylegan2 as sg
    from tf_stylegan2 import metrics
    from tf_stylegan2.projector.lpips import vgg16_backbone

    print("TensorFlow %s, devices: %s" % (tf.__version__, ", ".join(d.name for d in tf.config.list_logical_devices())))
    inception = metrics.load_inception(FLAGS.inception) if FLAGS.inception else KerasInceptionStandIn()
    vgg = metrics.Vgg16Detector(vgg16_backbone(None, include_top=True), "random")
    print("%-28s %12s %16s %14s   (images/s, batch %d)" % ("network", "generate", "+ Inception", "+ VGG16 fc2",
                                                             FLAGS.batch_size))
    for path in FLAGS.networks:
        G = sg.load_network(path).G_ema
        name = "%s (%dpx)" % (path.rsplit("/", 2)[-2], G.img_resolution)
        rates = [rate(G, extract, FLAGS.images, FLAGS.batch_size) for extract in (None, inception.features,
                                                                                   vgg.features)]
        print("%-28s %12.1f %16.1f %14.1f" % ((name,) + tuple(rates)))

    rnd = np.random.RandomState(0)
    a, b = rnd.randn(4096, 2048), rnd.randn(4096, 2048) + 0.1
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    print("fid_from_stats (2048-d): %.2f s" % timed(metrics.fid_from_stats, a.mean(0), sigma_a, b.mean(0), sigma_b))
    print("kid_from_features (100 subsets of 1000, 2048-d): %.2f s"
          % timed(metrics.kid_from_features, a.astype(np.float32), b.astype(np.float32)))
    n = FLAGS.pr_size
    real, fake = rnd.randn(n, 4096).astype(np.float32), rnd.randn(n, 4096).astype(np.float32)
    print("pr_from_features (%d x %d, 4096-d): %.2f s" % (n, n, timed(metrics.pr_from_features, real, fake)))


if __name__ == "__main__":
    app.run(main)
