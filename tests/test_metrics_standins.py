"""Stand-ins for the metric detectors (tests only): a tiny GraphDef with the Inception graph's
tensor names, a random-projection feature detector for PR, image folders."""

import json
import os
import tarfile

import numpy as np
import tensorflow as tf
from PIL import Image

FEATURE_DIM, NUM_CLASSES = 8, 5


def standin_inception_graph_def(seed=0, drop=None):
    """GraphDef of `DecodeJpeg/contents` -> `Cast` -> `ExpandDims` -> 8x8 bilinear resize, (x - 128) / 128,
    3x3 conv + ReLU -> `pool_3` `[N, 1, 1, 8]` -> `pool_3/_reshape` `[1, 8]` -> `softmax/logits/MatMul`
    (+ a bias, which the Inception score must not use) -> `softmax`, as classify_image_graph_def.pb.
    `drop`: rename that op so the graph lacks it."""
    rnd = np.random.RandomState(seed)
    rename = lambda name: name + "_renamed" if name == drop else name
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        img = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="Cast")
        x = tf.expand_dims(img, 0, name=rename("ExpandDims"))
        x = (tf.compat.v1.image.resize_bilinear(x, [8, 8], name="ResizeBilinear") - 128.0) / 128.0
        kernel = tf.constant(rnd.randn(3, 3, 3, FEATURE_DIM).astype(np.float32), name="conv/kernel")
        x = tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME"))
        pool = tf.nn.avg_pool2d(x, 8, 8, "VALID", name=rename("pool_3"))
        flat = tf.reshape(pool, [1, FEATURE_DIM], name="pool_3/_reshape")
        w = tf.constant(rnd.randn(FEATURE_DIM, NUM_CLASSES).astype(np.float32), name="softmax/weights")
        logits = tf.matmul(flat, w, name=rename("softmax/logits/MatMul"))
        bias = tf.constant(rnd.randn(NUM_CLASSES).astype(np.float32), name="softmax/biases")
        tf.nn.softmax(logits + bias, name="softmax")
    return g.as_graph_def()


def standin_reference(images, seed=0):
    """The stand-in graph's features and bias-free probabilities, computed directly (per image)."""
    rnd = np.random.RandomState(seed)
    kernel = rnd.randn(3, 3, 3, FEATURE_DIM).astype(np.float32)
    w = rnd.randn(FEATURE_DIM, NUM_CLASSES).astype(np.float32)
    feats = []
    for img in np.asarray(images, np.float32):
        x = (tf.compat.v1.image.resize_bilinear(img[None], [8, 8]) - 128.0) / 128.0
        feats.append(tf.reduce_mean(tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME")), axis=[1, 2]).numpy()[0])
    feats = np.stack(feats)
    logits = feats.astype(np.float64) @ w
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return feats, probs / probs.sum(1, keepdims=True)


def write_standin_inception(directory, seed=0, drop=None, tgz=False):
    """Write the stand-in graph as `classify_image_graph_def.pb` (or inside `inception-2015-12-05.tgz`)."""
    pb = os.path.join(str(directory), "classify_image_graph_def.pb")
    with open(pb, "wb") as f:
        f.write(standin_inception_graph_def(seed, drop).SerializeToString())
    if not tgz:
        return pb
    path = os.path.join(str(directory), "inception-2015-12-05.tgz")
    with tarfile.open(path, "w:gz") as tar:
        tar.add(pb, arcname="classify_image_graph_def.pb")
    os.unlink(pb)
    return path


class ProjectionDetector:
    """PR stand-in: features = a fixed random projection of 4x4-average-pooled pixels."""

    key = "standin-projection"

    def __init__(self, dim=16, seed=0):
        self.dim, self.seed = dim, seed

    def features(self, images):
        x = np.asarray(images, np.float32)
        n, h, w, c = x.shape
        x = x.reshape(n, 4, h // 4, 4, w // 4, c).mean(axis=(2, 4)).reshape(n, -1)
        return x @ np.random.RandomState(self.seed).randn(x.shape[1], self.dim).astype(np.float32)


def write_image_folder(directory, images, labels=None):
    """uint8 NHWC images as `img00000.png`.. (+ ADA `dataset.json` labels) -> the folder path."""
    os.makedirs(str(directory), exist_ok=True)
    names = []
    for i, img in enumerate(np.asarray(images)):
        names.append("img%05d.png" % i)
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(os.path.join(str(directory), names[-1]))
    if labels is not None:
        with open(os.path.join(str(directory), "dataset.json"), "w") as f:
            json.dump({"labels": [[n, int(l)] for n, l in zip(names, labels)]}, f)
    return str(directory)
