"""Stand-ins for the metric detectors (tests only): a tiny GraphDef with the Inception graph's
tensor names, a random-projection feature detector for PR, image folders."""

import json
import os
import tarfile

import numpy as np
import tensorflow as tf
from PIL import Image

FEATURE_DIM, NUM_CLASSES = 8, 5


BN_EPSILON = 0.001


def _bn_params(rnd):
    return dict(mean=rnd.randn(FEATURE_DIM).astype(np.float32), variance=rnd.uniform(0.5, 2, FEATURE_DIM).astype(
        np.float32), beta=rnd.randn(FEATURE_DIM).astype(np.float32), gamma=rnd.uniform(0.5, 2, FEATURE_DIM).astype(
        np.float32))


def standin_inception_graph_def(seed=0, drop=None, bn_scale=True):
    """GraphDef of `DecodeJpeg/contents` -> `Cast` -> `ExpandDims` -> 8x8 bilinear resize, (x - 128) / 128,
    3x3 conv, `BatchNormWithGlobalNormalization` (the 2015 graph's op, producer version 8), ReLU ->
    `pool_3` `[N, 1, 1, 8]` -> `pool_3/_reshape` `[1, 8]` -> `softmax/logits/MatMul` (+ a bias, which
    the Inception score must not use) -> `softmax`, as classify_image_graph_def.pb.
    `drop`: rename that op so the graph lacks it."""
    rnd = np.random.RandomState(seed)
    kernel, w = rnd.randn(3, 3, 3, FEATURE_DIM).astype(np.float32), rnd.randn(FEATURE_DIM, NUM_CLASSES)
    bias, bn = rnd.randn(NUM_CLASSES).astype(np.float32), _bn_params(rnd)
    rename = lambda name: name + "_renamed" if name == drop else name
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        img = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="Cast")
        x = tf.expand_dims(img, 0, name=rename("ExpandDims"))
        x = (tf.compat.v1.image.resize_bilinear(x, [8, 8], name="ResizeBilinear") - 128.0) / 128.0
        x = tf.nn.conv2d(x, tf.constant(kernel, name="conv/kernel"), 1, "SAME", name="conv")
        for key, value in bn.items():
            tf.constant(value, name="conv/bn/" + key)
        x = tf.nn.relu(tf.identity(x, name="conv/bn"))  # becomes the BatchNormWithGlobalNormalization node
        pool = tf.nn.avg_pool2d(x, 8, 8, "VALID", name=rename("pool_3"))
        flat = tf.reshape(pool, [1, FEATURE_DIM], name="pool_3/_reshape")
        logits = tf.matmul(flat, tf.constant(w.astype(np.float32), name="softmax/weights"),
                           name=rename("softmax/logits/MatMul"))
        tf.nn.softmax(logits + tf.constant(bias, name="softmax/biases"), name="softmax")
    graph_def = g.as_graph_def()
    graph_def.versions.producer = 8
    node = next(n for n in graph_def.node if n.name == "conv/bn")
    node.op = "BatchNormWithGlobalNormalization"
    del node.input[:]
    node.input.extend(["conv"] + ["conv/bn/" + k for k in ("mean", "variance", "beta", "gamma")])
    del node.attr["T"]
    node.attr["T"].type = tf.float32.as_datatype_enum
    node.attr["variance_epsilon"].f = BN_EPSILON
    node.attr["scale_after_normalization"].b = bn_scale
    return graph_def


def standin_reference(images, seed=0, bn_scale=True):
    """The stand-in graph's features and bias-free probabilities, computed directly (per image)."""
    rnd = np.random.RandomState(seed)
    kernel, w = rnd.randn(3, 3, 3, FEATURE_DIM).astype(np.float32), rnd.randn(FEATURE_DIM, NUM_CLASSES)
    rnd.randn(NUM_CLASSES)
    bn = _bn_params(rnd)
    scale = (bn["gamma"] if bn_scale else 1.0) / np.sqrt(bn["variance"] + np.float32(BN_EPSILON))
    feats = []
    for img in np.asarray(images, np.float32):
        x = (tf.compat.v1.image.resize_bilinear(img[None], [8, 8]) - 128.0) / 128.0
        x = tf.nn.conv2d(x, kernel, 1, "SAME").numpy()
        x = np.maximum((x - bn["mean"]) * scale + bn["beta"], 0)
        feats.append(x.mean(axis=(1, 2))[0])
    feats = np.stack(feats)
    logits = feats.astype(np.float64) @ w
    probs = np.exp(logits - logits.max(1, keepdims=True))
    return feats, probs / probs.sum(1, keepdims=True)


def write_standin_inception(directory, seed=0, drop=None, tgz=False, bn_scale=True):
    """Write the stand-in graph as `classify_image_graph_def.pb` (or inside `inception-2015-12-05.tgz`)."""
    pb = os.path.join(str(directory), "classify_image_graph_def.pb")
    with open(pb, "wb") as f:
        f.write(standin_inception_graph_def(seed, drop, bn_scale).SerializeToString())
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
