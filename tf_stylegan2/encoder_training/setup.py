"""The parts of an encoder training run built from its options (a dict, `training_options.json`):
the dataset, the decoder, the encoder (fresh, IR-SE-50-initialised or from a pSp checkpoint),
`latent_avg`, the loss criteria, the optimizer and the `TrainStep`. Everything that can be wrong
with the options is found here, before a run directory is made.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2.encoder_training.arcface import arcface_from_state_dict
from tf_stylegan2.encoder_training.data import EncoderDataset, val_count
from tf_stylegan2.encoder_training.encoder_init import init_from_arcface
from tf_stylegan2.encoder_training.losses import LossWeights, PSPLoss
from tf_stylegan2.encoder_training.lpips_alex import alex_lpips_from_state_dict
from tf_stylegan2.encoder_training.ranger import Ranger
from tf_stylegan2.encoder_training.step import TrainStep
from tf_stylegan2.encoders import GradualStyleEncoder
from tf_stylegan2.encoders.psp import load_encoder
from tf_stylegan2.rosinality import mean_latent
from tf_stylegan2.rosinality.save import generator_state_dict
from tf_stylegan2.training.adam import Adam

INPUT_SIZE = 256  # pSp's encoder input
PSP_DEPTHS = (64, 128, 256, 512)  # IR-SE-50's stage depths (model_ir_se50.pth)
OPTIMIZERS = ("ranger", "adam")
LPIPS_NETS = ("alex", "vgg")
ARCHITECTURE_KEYS = ("input_width", "depths", "fpn_width", "style_dim", "n_styles", "coarse_convs", "input_nc", "se")
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as pSp constructs it


class SetupError(ValueError):
    """Options that cannot make a run (one-line message)."""


def loss_weights(opts):
    return LossWeights(**{k: float(opts[k]) for k in LossWeights.__dataclass_fields__})


def encoder_kwargs(depths, w_dim, num_ws, input_size=INPUT_SIZE):
    """`GradualStyleEncoder` arguments as pSp builds it, widths following the decoder: the input
    layer as wide as the first stage, the pyramid as the last, heads of `w_dim`, one per `num_ws`."""
    depths = [int(d) for d in depths]
    if len(depths) != 4 or min(depths) < 1:
        raise SetupError("--encoder-depths needs 4 positive stage widths (pSp's: %s), got %s"
                         % (",".join(map(str, PSP_DEPTHS)), ",".join(map(str, depths))))
    return dict(input_width=depths[0], depths=depths, fpn_width=depths[3], style_dim=int(w_dim),
                n_styles=int(num_ws), coarse_convs=int(math.log2(input_size // 16)))


def check_options(opts):
    """One-line SetupError for inconsistent loss/file options (before anything is loaded)."""
    weights = loss_weights(opts)
    if min(vars(weights).values()) < 0:
        raise SetupError("the loss lambdas must be >= 0")
    if weights.id_lambda > 0 and not opts.get("id_weights"):
        raise SetupError("--id-lambda > 0 needs --id-weights (an IR-SE-50 ArcFace state dict, e.g. model_ir_se50.pth)")
    lpips = weights.lpips_lambda > 0 or weights.lpips_lambda_crop > 0
    if lpips and opts["lpips_net"] == "alex" and not opts.get("lpips_weights"):
        raise SetupError("--lpips-net=alex needs --lpips-weights (an lpips AlexNet state dict, lpips' "
                         "weights/v0.1/alex.pth with torchvision's alexnet features as net.*), or give "
                         "--lpips-net=vgg or --lpips-lambda=0 --lpips-lambda-crop=0")
    if opts["optim"] not in OPTIMIZERS:
        raise SetupError("--optim must be one of %s" % ", ".join(OPTIMIZERS))
    if opts["lpips_net"] not in LPIPS_NETS:
        raise SetupError("--lpips-net must be one of %s" % ", ".join(LPIPS_NETS))
    if opts.get("encoder_init") and opts.get("psp_checkpoint"):
        raise SetupError("give --encoder-init or a pSp checkpoint in --resume, not both")
    for key in ("batch", "test_batch", "max_steps", "image_interval", "board_interval", "val_interval"):
        if int(opts[key]) < 1:
            raise SetupError("--%s must be >= 1" % key.replace("_", "-"))
    if opts.get("save_interval") is not None and int(opts["save_interval"]) < 1:
        raise SetupError("--save-interval must be >= 1")
    if not 0 <= float(opts["val_fraction"]) < 1:
        raise SetupError("--val-fraction must be in [0, 1)")
    if float(opts["lr"]) <= 0:
        raise SetupError("--lr must be > 0")


def load_decoder(source):
    """The decoder `G_ema` of `source` (any network source), checked to be one pSp's checkpoint can hold."""
    from tf_stylegan2.sources import load_network
    decoder = load_network(source).G_ema
    if not hasattr(getattr(decoder, "synthesis", None), "num_noise"):
        raise SetupError("--decoder=%s is a SavedModel: training needs a Keras network (a pickle, rosinality .pt or "
                         "converted directory)" % source)
    try:
        generator_state_dict(decoder, "--decoder")
    except ValueError as e:
        raise SetupError("%s (pSp checkpoints store the decoder in rosinality's format)" % e) from None
    return decoder


def decoder_latent_avg(decoder):
    """The decoder's mean W `[w_dim]`: its `w_avg`, or rosinality's `mean_latent` estimate when it has none (zeros)."""
    w_avg = np.asarray(decoder.mapping.w_avg.numpy(), np.float32)
    return w_avg if np.any(w_avg) else mean_latent(decoder)


def lpips_criterion(opts):
    """The perceptual distance `(a, b) -> scalar` (batch mean) of `opts`, or None when unused."""
    weights = loss_weights(opts)
    if not (weights.lpips_lambda > 0 or weights.lpips_lambda_crop > 0):
        return None
    if opts["lpips_net"] == "alex":
        return alex_lpips_from_state_dict(opts["lpips_weights"])
    from tf_stylegan2.projector.lpips import PerceptualDistance, vgg16_backbone
    distance = PerceptualDistance(vgg16_backbone(opts.get("lpips_weights") or "imagenet"))
    return lambda a, b: tf.reduce_mean(distance((a + 1.0) * 127.5, (b + 1.0) * 127.5))  # it takes [0, 255]


class Parts:
    """Everything a run trains with: `dataset`, `decoder`, `encoder`, `latent_avg` (`[n_styles,
    w_dim]` added to the codes, or None), `step` (`TrainStep`), `optimizer`, `n_val` (held-out
    pairs), `encoder_kwargs` (the encoder's architecture, for the options file)."""

    def __init__(self, opts, resuming=False):
        """Args: resuming: the encoder is built from `opts["encoder_kwargs"]` and its weights and
        `latent_avg` come from the run's state afterwards (the init files are not read again)."""
        check_options(opts)
        self.dataset = EncoderDataset(opts["dataset"], INPUT_SIZE)
        self.decoder = load_decoder(opts["decoder"])
        keras.utils.set_random_seed(int(opts["seed"]))  # the fresh encoder's initial weights
        n_styles, w_dim = self.decoder.num_ws, self.decoder.w_dim
        self.start_from_latent_avg = bool(opts["start_from_latent_avg"])
        latent_avg = decoder_latent_avg(self.decoder) if self.start_from_latent_avg and not resuming else None
        if opts.get("psp_checkpoint") and not resuming:
            psp = load_encoder(opts["psp_checkpoint"], decoder=self.decoder)
            if psp.input_size != INPUT_SIZE or psp.encoder.mode != "psp":
                raise SetupError("%s: a %d px %s encoder, training needs pSp's 256 px GradualStyleEncoder"
                                 % (opts["psp_checkpoint"], psp.input_size, psp.encoder.mode))
            self.encoder = psp.encoder
            if psp.latent_avg is not None and self.start_from_latent_avg:
                latent_avg = psp.latent_avg
        else:
            kwargs = opts["encoder_kwargs"] if resuming else encoder_kwargs(opts["encoder_depths"], w_dim, n_styles)
            if (kwargs["n_styles"], kwargs["style_dim"]) != (n_styles, w_dim):
                raise SetupError("the run's encoder gives %d styles of %d, the decoder takes %d of %d"
                                 % (kwargs["n_styles"], kwargs["style_dim"], n_styles, w_dim))
            self.encoder = GradualStyleEncoder(name="encoder", **kwargs)
            self.encoder.build()
            if opts.get("encoder_init") and not resuming:
                init_from_arcface(self.encoder, opts["encoder_init"], what="--encoder-init=%s" % opts["encoder_init"])
        self.encoder_kwargs = {k: v for k, v in self.encoder.get_config().items() if k in ARCHITECTURE_KEYS}
        # [n_styles, w_dim], restored from the state on resume (a variable, so checkpoints hold it)
        self.latent_avg_variable = tf.Variable(np.zeros((n_styles, w_dim), np.float32) if latent_avg is None else
                                               np.broadcast_to(latent_avg, (n_styles, w_dim)).astype(np.float32),
                                               trainable=False, name="latent_avg")
        weights = loss_weights(opts)
        self.arcface = arcface_from_state_dict(opts["id_weights"], "--id-weights=%s" % opts["id_weights"]) \
            if weights.id_lambda > 0 else None
        self.lpips = lpips_criterion(opts)
        self.weights, self.train_decoder = weights, bool(opts["train_decoder"])
        variables = list(self.encoder.trainable_variables)
        if self.train_decoder:
            variables += list(self.decoder.synthesis.trainable_variables)
        self.optimizer = Ranger(variables, lr=float(opts["lr"])) if opts["optim"] == "ranger" else \
            Adam(variables, float(opts["lr"]), ADAM_BETAS, ADAM_EPS)
        self.n_val = val_count(len(self.dataset), float(opts["val_fraction"]))
        self._step = None

    @property
    def latent_avg(self):
        """`[n_styles, w_dim]` float32 added to the codes (`start_from_latent_avg`), else None."""
        return self.latent_avg_variable.numpy() if self.start_from_latent_avg else None

    @property
    def step(self):
        """The `TrainStep`, made on first use (after a resumed state has set `latent_avg`)."""
        if self._step is None:
            loss = PSPLoss(self.weights, self.lpips, self.arcface, self.latent_avg)
            self._step = TrainStep(self.encoder, self.decoder, loss, self.latent_avg, self.optimizer,
                                   train_decoder=self.train_decoder)
        return self._step

    def state_variables(self):
        """`{group: {name: variable}}` of everything training changes (for `training.checkpoints`):
        the encoder's weights and BatchNorm statistics by PyTorch name, the optimizer's state, the
        decoder's synthesis weights with `--train-decoder`."""
        slots = self.optimizer.slots()
        slots = list(slots.values()) if isinstance(slots, dict) else slots
        out = {"encoder": {name: var for name, (var, _) in self.encoder.torch_weights().items()},
               "optimizer": {"%04d" % i: var for i, var in enumerate(slots)}}
        out["latent_avg"] = {"latent_avg": self.latent_avg_variable}
        if self.train_decoder:
            out["decoder"] = {"%04d" % i: var for i, var in enumerate(self.decoder.synthesis.trainable_variables)}
        return out
