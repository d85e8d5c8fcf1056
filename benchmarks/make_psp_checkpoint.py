"""Write a random pixel2style2pixel checkpoint at real width, in pSp's file format, for bench_encoder.py.

    PYTHONPATH=. python3 benchmarks/make_psp_checkpoint.py --out=/tmp/psp256.pt [--output_size=256]

`torch.save({'state_dict', 'opts', 'latent_avg'})` as pSp's Coach writes it, without PyTorch:
`encoder.*` = pSp's `GradualStyleEncoder(50, 'ir_se')` (input 64 channels, stages 64/128/256/512,
3/4/14/3 units, 512-wide pyramid and heads, input size 256) and `decoder.*` = rosinality's
`Generator(output_size, 512, 8, channel_multiplier=2)` (the state dict of a random config-f-width
Keras generator), `latent_avg` `[n_styles, 512]` (identical rows, as in pSp's files),
`num_batches_tracked` counters included. With the default output size 256 there are 14 styles;
1024 gives pSp's FFHQ encoder shape (18 styles, about 1.2 GB).
Values are random with sane ranges (He-normal convs, unit BN statistics, PReLU 0.25).
"""

import collections
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tf_stylegan2  # noqa: E402,F401  (first: it enables oneDNN before TensorFlow loads)
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from tf_stylegan2.encoders.gradual_style import GradualStyleEncoder  # noqa: E402
from tf_stylegan2.encoders.layers import TORCH_CONV, TORCH_LINEAR  # noqa: E402
from tf_stylegan2.layers.initialization import deferred_initialization  # noqa: E402
from tf_stylegan2.networks import Generator, MappingNetwork, SynthesisNetwork  # noqa: E402
from tf_stylegan2.official.torch_save import save_torch_file  # noqa: E402
from tf_stylegan2.rosinality.save import generator_state_dict  # noqa: E402

flags.DEFINE_string("out", "/tmp/psp256.pt", "Checkpoint to write.")
flags.DEFINE_integer("output_size", 256, "Decoder resolution (n_styles = 2*log2(size) - 2).")
flags.DEFINE_integer("seed", 0, "Random seed.")
FLAGS = flags.FLAGS

ENCODER = dict(input_width=64, depths=[64, 128, 256, 512], fpn_width=512, style_dim=512, coarse_convs=4)
OPTS = dict(exp_dir="experiment", dataset_type="ffhq_encode", encoder_type="GradualStyleEncoder", input_nc=3,
            label_nc=0, batch_size=8, test_batch_size=8, workers=8, test_workers=8, learning_rate=1e-4,
            optim_name="ranger", train_decoder=False, start_from_latent_avg=True, learn_in_w=False, lpips_lambda=0.8,
            id_lambda=0.1, l2_lambda=1.0, w_norm_lambda=0.0, lpips_lambda_crop=0.0, l2_lambda_crop=0.0,
            stylegan_weights="pretrained_models/stylegan2-ffhq-config-f.pt", checkpoint_path=None, max_steps=500000,
            image_interval=100, board_interval=50, val_interval=1000, save_interval=None, device="cuda:0")


def torch_shape(shape, layout):
    if layout == TORCH_CONV:
        return (shape[3], shape[2], shape[0], shape[1])
    if layout == TORCH_LINEAR:
        return (shape[1], shape[0])
    return tuple(shape)


def encoder_state_dict(n_styles, rng):
    """pSp's encoder keys (without 'encoder.') -> random float32 arrays in PyTorch's layouts."""
    with deferred_initialization(unset="zeros") as values:
        encoder = GradualStyleEncoder(n_styles=n_styles, **ENCODER)
        encoder.build()
        shapes = {name: torch_shape(var.shape, layout) for name, (var, layout) in encoder.torch_weights().items()}
        values.abandon()
    out = collections.OrderedDict()
    for name, shape in shapes.items():
        leaf = name.rsplit(".", 1)[-1]
        if len(shape) == 4 or (len(shape) == 2 and "linear" in name):
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape) * math.sqrt(2.0 / fan_in) if len(shape) == 4 else \
                rng.standard_normal(shape)
        elif leaf == "running_var":
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith(("res_layer.2.weight", "input_layer.2.weight")):
            value = np.full(shape, 0.25)  # PReLU slopes
        elif leaf == "weight":
            value = rng.uniform(0.8, 1.2, shape)
        else:
            value = rng.standard_normal(shape) * 0.1
        out[name] = value.astype(np.float32)
        if leaf == "running_var":
            out[name[:-len("running_var")] + "num_batches_tracked"] = np.array(1000, np.int64)
    return out


def decoder_state_dict(size):
    """rosinality `Generator(size, 512, 8, channel_multiplier=2)` state dict of a random Keras generator."""
    G = Generator(MappingNetwork(z_dim=512, w_dim=512, num_ws=2 * int(math.log2(size)) - 2, num_layers=8,
                                 layer_features=512, name="mapping"),
                  SynthesisNetwork(w_dim=512, img_resolution=size, fmap_base=16384, fmap_max=512, name="synthesis"))
    G(np.zeros([1, 512], np.float32))
    return generator_state_dict(G)


def main(argv):
    del argv
    rng = np.random.default_rng(FLAGS.seed)
    n_styles = 2 * int(math.log2(FLAGS.output_size)) - 2
    state = collections.OrderedDict(("encoder." + k, v) for k, v in encoder_state_dict(n_styles, rng).items())
    state.update(("decoder." + k, v) for k, v in decoder_state_dict(FLAGS.output_size).items())
    latent_avg = np.tile(rng.standard_normal([1, 512]).astype(np.float32) * 0.5, [n_styles, 1])
    save_torch_file({"state_dict": state, "opts": dict(OPTS, output_size=FLAGS.output_size, n_styles=n_styles),
                     "latent_avg": latent_avg}, FLAGS.out)
    weights = sum(v.nbytes for v in state.values())
    print("wrote %s: %d tensors, %.1f MB of weights, %d styles" % (FLAGS.out, len(state), weights / 2 ** 20,
                                                                 n_styles))


if __name__ == "__main__":
    app.run(main)
