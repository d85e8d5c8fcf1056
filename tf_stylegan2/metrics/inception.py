"""The Inception-v3 graph that defines FID, KID and the Inception score, run without TF1 sessions.

TensorFlow's `classify_image_graph_def.pb` (in `inception-2015-12-05.tgz`) is imported as a
GraphDef into a `tf.compat.v1.wrap_function`, as TTUR's `fid.py` and openai's Inception-score
code use it: NHWC float images in [0, 255] (any size; the graph resizes and normalises) go in at
`ExpandDims:0`; `pool_3:0` `[N, 1, 1, 2048]` gives the FID features; the class probabilities are
`softmax(features @ W)` with `W` the weight input of `softmax/logits/MatMul` (no bias).

The 2015 graph normalises with `BatchNormWithGlobalNormalization`, an op TensorFlow refuses to
run in graphs newer than GraphDef version 9 (every function graph of TF2); those nodes are
rewritten into the same arithmetic with current ops before the import.
"""

import hashlib
import os
import tarfile

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError

from tf_stylegan2 import sources

INCEPTION_URL = "https://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
GRAPH_MEMBER = "classify_image_graph_def.pb"
INPUT_TENSOR = "ExpandDims:0"
FEATURE_TENSOR = "pool_3:0"
LOGITS_OP = "softmax/logits/MatMul"


def read_graph_def(path):
    """`classify_image_graph_def.pb`, or the `.tgz` holding it -> `(GraphDef, sha256 hex of the .pb bytes)`.

    Raises:
      ValueError: not a GraphDef, or an archive without the graph.
      OSError: unreadable file.
    """
    if tarfile.is_tarfile(path):
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if os.path.basename(m.name) == GRAPH_MEMBER and m.isfile()),
                          None)
            if member is None:
                raise ValueError("%s holds no %s: expected TensorFlow's inception-2015-12-05.tgz"
                                 % (path, GRAPH_MEMBER))
            data = tar.extractfile(member).read()
    else:
        with open(path, "rb") as f:
            data = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except DecodeError:
        raise ValueError("%s is not a TensorFlow GraphDef: expected %s or inception-2015-12-05.tgz"
                         % (path, GRAPH_MEMBER)) from None
    return graph_def, hashlib.sha256(data).hexdigest()


def _const_node(name, value, dtype_enum):
    node = tf.compat.v1.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = dtype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value, dtype=tf.as_dtype(dtype_enum)))
    return node


def _op_node(name, op, inputs, dtype_enum):
    node = tf.compat.v1.NodeDef(name=name, op=op, input=inputs)
    node.attr["T"].type = dtype_enum
    return node


def replace_global_batch_norm(graph_def):
    """A copy of `graph_def` with each `BatchNormWithGlobalNormalization(t, m, v, beta, gamma)` node
    replaced by `(t - m) * rsqrt(v + eps) [* gamma] + beta` (its definition) under the same output name,
    and no device pinned (the detector runs where it is called)."""
    out = tf.compat.v1.GraphDef()
    out.versions.CopyFrom(graph_def.versions)
    out.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.op != "BatchNormWithGlobalNormalization":
            out.node.add().CopyFrom(node)
            out.node[-1].device = ""
            continue
        n, dtype = node.name, node.attr["T"].type
        t, m, v, beta, gamma = node.input[:5]
        controls = [i for i in node.input[5:] if i.startswith("^")]
        scale = n + "/rsqrt"
        nodes = [_const_node(n + "/epsilon", node.attr["variance_epsilon"].f, dtype),
                 _op_node(n + "/variance_eps", "AddV2", [v, n + "/epsilon"], dtype),
                 _op_node(scale, "Rsqrt", [n + "/variance_eps"], dtype)]
        if node.attr["scale_after_normalization"].b:
            nodes.append(_op_node(n + "/scale", "Mul", [scale, gamma], dtype))
            scale = n + "/scale"
        nodes += [_op_node(n + "/centered", "Sub", [t, m], dtype),
                  _op_node(n + "/scaled", "Mul", [n + "/centered", scale], dtype),
                  _op_node(n, "AddV2", [n + "/scaled", beta] + controls, dtype)]
        for new in nodes:
            out.node.add().CopyFrom(new)
    return out


def check_graph(graph_def, path):
    """Raise a one-line ValueError naming the first tensor of the Inception interface the graph lacks."""
    nodes = {node.name for node in graph_def.node}
    for tensor in (INPUT_TENSOR, FEATURE_TENSOR, LOGITS_OP + ":0"):
        if tensor.split(":")[0] not in nodes:
            raise ValueError("%s is not the Inception graph classify_image_graph_def.pb: it has no tensor %r"
                             % (path, tensor))


class InceptionDetector:
    """`features(images) -> [N, D]` pool_3 features and `probabilities(images) -> [N, classes]`.

    `images`: uint8 (or float in [0, 255]) NHWC `[N, H, W, C]`, C = 1 (repeated to RGB) or 3.
    Both come from one compiled graph function (built once; any batch size and image size).
    `key` identifies the graph for the statistics cache.
    """

    def __init__(self, graph_def, key):
        self.key = key

        def imported(images):
            pool3, logits_op = tf.graph_util.import_graph_def(
                graph_def, input_map={INPUT_TENSOR: images}, return_elements=[FEATURE_TENSOR, LOGITS_OP],
                name="inception")
            feats = tf.reshape(pool3, [tf.shape(pool3)[0], -1])
            return feats, tf.nn.softmax(tf.matmul(feats, logits_op.inputs[1]))

        wrapped = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])
        self._fn = wrapped.prune(wrapped.inputs[0], wrapped.outputs)

    def __call__(self, images):
        """-> `(features [N, D], probabilities [N, classes])` float32 numpy."""
        x = tf.convert_to_tensor(np.asarray(images), tf.float32)
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        feats, probs = self._fn(x)
        return feats.numpy(), probs.numpy()

    def features(self, images):
        return self(images)[0]

    def probabilities(self, images):
        return self(images)[1]


_LOADED = {}


def load_inception(source=None, cache_dir=None, progress=True):
    """The Inception detector from `source`: a `.pb`/`.tgz` path, a URL, or None for TensorFlow's
    `inception-2015-12-05.tgz` (downloaded once into the network cache, resumable). Loaded
    detectors are kept for the life of the process.

    Raises:
      ValueError: not a GraphDef, or a graph without the Inception tensors (one line naming it).
      OSError: download or read failures.
    """
    try:
        path = os.path.abspath(sources.resolve(source or INCEPTION_URL, cache_dir, progress=progress))
    except OSError as e:
        if source:
            raise
        raise OSError("%s; offline, give --inception=PATH to classify_image_graph_def.pb or inception-2015-12-05.tgz, "
                      "or train without FID/KID/IS (run_training.py --metrics=none)" % str(e).strip().splitlines()[0]) \
            from None
    if not os.path.isfile(path):
        raise ValueError("Inception graph %r not found: pass --inception=PATH to classify_image_graph_def.pb or "
                         "inception-2015-12-05.tgz" % path)
    stamp = (path, os.path.getsize(path), os.path.getmtime(path))
    if stamp not in _LOADED:
        graph_def, digest = read_graph_def(path)
        check_graph(graph_def, path)
        try:
            detector = InceptionDetector(replace_global_batch_norm(graph_def), "inception-" + digest[:16])
            detector(np.zeros([1, 16, 16, 3], np.uint8))  # fail here, before any work, if the graph cannot run
        except Exception as e:  # TensorFlow raises assorted types (OpError, UnliftableError, ...) for foreign graphs
            raise ValueError("%s: the Inception graph cannot run here (%s)"
                             % (path, str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)) from None
        _LOADED[stamp] = detector
    return _LOADED[stamp]

