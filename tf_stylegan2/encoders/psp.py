"""pixel2style2pixel (pSp) encoders: `load_encoder(path)` reads a pSp checkpoint without PyTorch,
`PSPEncoder.encode(images)` gives W+ codes in one forward pass, `reconstruct` decodes them.

A pSp checkpoint is `torch.save({'state_dict', 'opts', 'latent_avg'})`: `state_dict` holds the
`encoder.` (GradualStyleEncoder) and `decoder.` (rosinality StyleGAN2 Generator) weights, `opts`
pSp's training options (read as data) and `latent_avg` the decoder's mean w, `[n_styles, w_dim]`
or `[w_dim]`, added to the encoder's output when `opts.start_from_latent_avg`.
encoder4editing (e4e) checkpoints have the same form (`opts.encoder_type = 'Encoder4Editing'`, the
output size in `opts.stylegan_size`) and load alike; see `gradual_style` for e4e's codes.
"""

import math
import os

import numpy as np
import tensorflow as tf

from tf_stylegan2.encoders import preprocess
from tf_stylegan2.encoders.psp_weights import encoder_from_state_dict
from tf_stylegan2.encoders.resampling import adaptive_avg_pool
from tf_stylegan2.official.torch_pickle import load_torch_file
from tf_stylegan2.official.unpickler import NetworkPickleError
from tf_stylegan2.rosinality import generator_from_state_dict

DEFAULT_OUTPUT_SIZE = 1024  # pSp's inference (and e4e's option default) when opts lacks the size
FACE_POOL_SIZE = 256  # pSp's face_pool (`--resize_outputs`)
# opts.encoder_type -> (GradualStyleEncoder mode, the opts key of the decoder's output size)
ENCODER_TYPES = {"GradualStyleEncoder": ("psp", "output_size"), "Encoder4Editing": ("e4e", "stylegan_size")}


class PSPEncoder:
    """A pSp network: `encoder` (a Keras `GradualStyleEncoder`), `latent_avg` and `decoder` (a
    `Generator`, or any object with `num_ws`, `w_dim` and `synthesis(ws, noise_mode)`).

    Attributes: `input_size` (S), `n_styles`, `w_dim`, `start_from_latent_avg`, `opts` (the
    checkpoint's options, a dict), `latent_avg` (float32 `[n_styles, w_dim]` or `[w_dim]`, or None).
    """

    def __init__(self, encoder, decoder, latent_avg=None, start_from_latent_avg=True, opts=None):
        self.encoder, self.opts = encoder, dict(opts or {})
        self.input_size, self.n_styles, self.w_dim = encoder.input_size, encoder.n_styles, encoder.style_dim
        self.start_from_latent_avg = bool(start_from_latent_avg)
        self.latent_avg = None if latent_avg is None else np.asarray(latent_avg, np.float32)
        if self.start_from_latent_avg:
            shape = None if self.latent_avg is None else tuple(self.latent_avg.shape)
            if shape not in ((self.w_dim,), (self.n_styles, self.w_dim)):
                raise ValueError("latent_avg of shape %s does not fit %d styles of %d: expected [%d] or [%d, %d]"
                                 % (None if shape is None else list(shape), self.n_styles, self.w_dim, self.w_dim,
                                    self.n_styles, self.w_dim))
        self.decoder = None
        self.set_decoder(decoder)
        self._encode = tf.function(self.codes, input_signature=[
            tf.TensorSpec([None, self.input_size, self.input_size, encoder.input_nc], tf.float32)])

    def set_decoder(self, decoder):
        """Decode with `decoder` (e.g. a blended network: pSp's toonify trick).

        Raises:
          ValueError: its `num_ws`/`w_dim` differ from the encoder's `n_styles`/`w_dim`.
        """
        if decoder is not None and (decoder.num_ws, decoder.w_dim) != (self.n_styles, self.w_dim):
            raise ValueError("the decoder takes %d ws of %d, the encoder gives %d of %d: they do not fit"
                             % (decoder.num_ws, decoder.w_dim, self.n_styles, self.w_dim))
        self.decoder = decoder

    def codes(self, x):
        """float32 `[N, S, S, input_nc]` in [-1, 1] -> W+ tensor `[N, n_styles, w_dim]` (traceable)."""
        codes = self.encoder(x)
        if self.start_from_latent_avg:
            codes = codes + tf.constant(self.latent_avg)  # [w_dim] or [n_styles, w_dim]: both broadcast
        return codes

    def encode(self, images):
        """Images -> W+ codes, float32 numpy `[N, n_styles, w_dim]` (pSp's `codes`, latent_avg added).

        Args:
          images: uint8 `[N, H, W, 3]` (or one `[H, W, 3]`), resized as pSp does, or float32
            `[N, S, S, 3]` in [-1, 1] (see `preprocess.encoder_inputs`).
        """
        x = preprocess.encoder_inputs(images, self.input_size, self.encoder.input_nc)
        return self._encode(tf.constant(x)).numpy()

    def decode(self, ws, resize_outputs=False):
        """W+ `[N, n_styles, w_dim]` -> the decoder's float32 NHWC images, about [-1, 1], rendered
        with its stored noise (pSp's `randomize_noise=False`); pooled to 256x256 with `resize_outputs`."""
        if self.decoder is None:
            raise ValueError("this encoder has no decoder: set one with set_decoder")
        images = self.decoder.synthesis(tf.convert_to_tensor(ws, tf.float32), noise_mode="const")
        return pool_outputs(images) if resize_outputs else images

    def reconstruct(self, images, resize_outputs=False):
        """`decode(encode(images))`: pSp's `net(x, resize=resize_outputs, randomize_noise=False)`."""
        return self.decode(self.encode(images), resize_outputs)


def pool_outputs(images):
    """pSp's `face_pool`: `AdaptiveAvgPool2d((256, 256))` on NHWC images."""
    return adaptive_avg_pool(tf.convert_to_tensor(images, tf.float32), FACE_POOL_SIZE)


def _checkpoint_parts(obj, path):
    if not (isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict) and isinstance(obj.get("opts"), dict)):
        raise NetworkPickleError("%s is not a pSp checkpoint (expected a dict with 'state_dict' and 'opts')" % path)
    state, opts = obj["state_dict"], dict(obj["opts"])
    encoder_type = opts.get("encoder_type")
    if encoder_type not in ENCODER_TYPES:
        raise NetworkPickleError("%s: encoder type %r is not supported (only pSp's GradualStyleEncoder and e4e's "
                                 "Encoder4Editing)" % (path, encoder_type))
    if opts.get("learn_in_w", False):
        raise NetworkPickleError("%s: learn_in_w=True with a %s is not a pSp configuration" % (path, encoder_type))
    bad = [k for k, v in state.items() if not (isinstance(k, str) and isinstance(v, np.ndarray))]
    if bad:
        raise NetworkPickleError("%s: state_dict entry %r is not a named tensor" % (path, bad[0]))
    parts = {"encoder": {}, "decoder": {}}
    for key in list(state):
        prefix, _, rest = key.partition(".")
        if prefix in parts:
            parts[prefix][rest] = state.pop(key)
    return parts["encoder"], parts["decoder"], opts


def _output_size(opts, path):
    key = ENCODER_TYPES[opts["encoder_type"]][1]
    size = opts.get(key, DEFAULT_OUTPUT_SIZE)
    if not (type(size) is int and size >= 4 and size & (size - 1) == 0):
        raise NetworkPickleError("%s: %s %r is not a power of two >= 4" % (path, key, size))
    return size


def _latent_avg(obj, path):
    value = obj.get("latent_avg")
    if value is not None and not (isinstance(value, np.ndarray) and value.dtype.kind == "f"):
        raise NetworkPickleError("%s: latent_avg is not a float tensor" % path)
    return value


def load_encoder(path, decoder=None):
    """Read a pSp (or e4e) checkpoint -> `PSPEncoder`.

    Widths, unit counts, head depths and `n_styles` come from the weights; `output_size` (e4e:
    `stylegan_size`; default 1024, as pSp's inference), `start_from_latent_avg` (default False,
    pSp's option default) and `learn_in_w` from `opts`. The decoder's truncation centre `w_avg` is
    `latent_avg` (its first row). The tensors are read once and each is released as its variable is created.

    Args:
      decoder: a generator to decode with instead of the checkpoint's (whose weights are then not
        built); its `num_ws`/`w_dim` must fit the encoder.
    Raises:
      NetworkPickleError (a ValueError): unreadable, unsafe or unsupported file (ReStyle and pSp's
        other encoder types are refused by name); one-line message.
    """
    try:
        obj = load_torch_file(path)
    except NetworkPickleError as e:
        raise NetworkPickleError(str(e) if os.fspath(path) in str(e) else "%s: %s" % (path, e)) from None
    enc_tensors, dec_tensors, opts = _checkpoint_parts(obj, path)
    latent_avg = _latent_avg(obj, path)
    del obj
    n_styles = 2 * int(math.log2(_output_size(opts, path))) - 2
    mode, size_key = ENCODER_TYPES[opts["encoder_type"]]
    encoder = encoder_from_state_dict(enc_tensors, what="%s: encoder" % path, mode=mode)
    if encoder.n_styles != n_styles:
        raise NetworkPickleError("%s: %d style heads, but %s %d needs %d"
                                 % (path, encoder.n_styles, size_key, _output_size(opts, path), n_styles))
    try:
        if decoder is None:
            w_avg = None if latent_avg is None else latent_avg.reshape(-1, latent_avg.shape[-1])[0]
            decoder = generator_from_state_dict(dec_tensors, latent_avg=w_avg, name="decoder")
        del dec_tensors
        return PSPEncoder(encoder, decoder, latent_avg, opts.get("start_from_latent_avg", False), opts)
    except ValueError as e:
        raise NetworkPickleError("%s: %s" % (path, e)) from None
