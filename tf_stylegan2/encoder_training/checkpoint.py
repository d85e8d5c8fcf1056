"""pSp checkpoints written without PyTorch, in pSp's own format (`Coach.__get_save_dict`):
`{'state_dict': OrderedDict('encoder.<GradualStyleEncoder names>', 'decoder.<rosinality Generator
names>'), 'opts': dict of pSp's training options, 'latent_avg': float32 [n_styles, w_dim]}`, read
back by `sg.load_encoder` and by pSp's `pSp(opts)` (`torch.load`, strict `load_state_dict`).
"""

import collections
import math

import numpy as np

from tf_stylegan2.encoder_training.torch_state import to_torch
from tf_stylegan2.official.torch_save import save_torch_file
from tf_stylegan2.rosinality.save import generator_state_dict

# pSp's `TrainOptions` defaults (options/train_options.py; `device` and `n_styles` are set by its Coach and
# pSp), the fields its checkpoints hold.
PSP_DEFAULT_OPTS = collections.OrderedDict([
    ("exp_dir", None), ("dataset_type", "ffhq_encode"), ("encoder_type", "GradualStyleEncoder"), ("input_nc", 3),
    ("label_nc", 0), ("output_size", 1024), ("batch_size", 4), ("test_batch_size", 2), ("workers", 4),
    ("test_workers", 2), ("learning_rate", 1e-4), ("optim_name", "ranger"), ("train_decoder", False),
    ("start_from_latent_avg", False), ("learn_in_w", False), ("lpips_lambda", 0.8), ("id_lambda", 0),
    ("l2_lambda", 1.0), ("w_norm_lambda", 0), ("lpips_lambda_crop", 0), ("l2_lambda_crop", 0),
    ("moco_lambda", 0), ("stylegan_weights", "pretrained_models/stylegan2-ffhq-config-f.pt"),
    ("checkpoint_path", None), ("max_steps", 500000),
    ("image_interval", 100), ("board_interval", 50), ("val_interval", 1000), ("save_interval", None),
    ("use_wandb", False), ("resize_factors", None), ("device", "cuda:0"), ("n_styles", 18)])
BN_STEPS_SUFFIX = ".num_batches_tracked"


def psp_opts(output_size, **options):
    """pSp's `vars(opts)` for a decoder of `output_size`: the defaults, `options` (pSp's names),
    `n_styles = 2 log2(output_size) - 2`.

    Raises:
      ValueError: an option pSp does not have.
    """
    unknown = sorted(set(options) - set(PSP_DEFAULT_OPTS))
    if unknown:
        raise ValueError("not pSp options: %s" % ", ".join(unknown))
    opts = collections.OrderedDict(PSP_DEFAULT_OPTS)
    opts.update(options, output_size=int(output_size), n_styles=2 * int(math.log2(output_size)) - 2)
    return dict(opts)


def encoder_state_dict(encoder, bn_steps=0):
    """A `GradualStyleEncoder` -> pSp's `encoder.*` entries (PyTorch layouts, each BatchNorm's
    int64 `num_batches_tracked` = `bn_steps`)."""
    out = collections.OrderedDict()
    for name, (variable, layout) in encoder.torch_weights().items():
        out["encoder." + name] = to_torch(variable.numpy(), layout).astype(np.float32)
        if name.endswith(".running_var"):
            out["encoder." + name[:-len(".running_var")] + BN_STEPS_SUFFIX] = np.array(bn_steps, np.int64)
    return out


def save_psp_checkpoint(path, encoder, decoder, opts, latent_avg=None, bn_steps=0):
    """Write a pSp checkpoint at `path` atomically.

    Args:
      encoder: a `GradualStyleEncoder`; decoder: a Keras `Generator` rosinality's model can hold.
      opts: pSp's options (`psp_opts`).
      latent_avg: `[w_dim]` or `[n_styles, w_dim]` (written as `[n_styles, w_dim]`, as pSp does), or None.
    Raises:
      ValueError: a decoder rosinality cannot hold, a latent_avg of the wrong shape.
    """
    state = encoder_state_dict(encoder, bn_steps)
    state.update(("decoder." + k, v) for k, v in generator_state_dict(decoder, "decoder").items())
    out = {"state_dict": state, "opts": dict(opts)}
    if latent_avg is not None:
        latent_avg = np.asarray(latent_avg, np.float32)
        n, d = encoder.n_styles, encoder.style_dim
        if latent_avg.shape not in ((d,), (n, d)):
            raise ValueError("latent_avg of shape %s: expected [%d] or [%d, %d]" % (list(latent_avg.shape), d, n, d))
        out["latent_avg"] = np.ascontiguousarray(np.broadcast_to(latent_avg, (n, d)))
    save_torch_file(out, path)
