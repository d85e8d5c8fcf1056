"""`run_encoder_training.py`: train a pixel2style2pixel (pSp) encoder for any decoder network, with
pSp's losses, Ranger/Adam and checkpoints in pSp's format (logic in `tf_stylegan2.encoder_training`).

  --dataset=PAIRS_DIR|PAIRS.zip|IMAGE_FOLDER --decoder=NETWORK [--outdir=results]
  [--encoder-init=model_ir_se50.pth | --resume=PSP.pt | --resume=RUN_DIR] [loss, optimizer, interval flags]

A generate-pairs dataset (source/, target/, pairs.json) trains source -> target; an image folder
trains plain encoding (target = input). Results go to <outdir>/<NNNNN>-encoder-<dataset name>/.
"""

from absl import flags

from tf_stylegan2.apps import cli
from tf_stylegan2.encoder_training import run as encoder_run
from tf_stylegan2.encoder_training.setup import LPIPS_NETS, OPTIMIZERS

FLAGS = flags.FLAGS
_ARGS = dict(allow_override=True)
D = encoder_run.DEFAULTS


def define_flags():
    """Define this app's flags (called from `main`)."""
    flags.DEFINE_string("dataset", None, "Training data: a generate-pairs run directory or a zip of it (source/, "
                        "target/, pairs.json), or an image folder/zip (plain encoding: target = input)", **_ARGS)
    flags.DEFINE_string("decoder", None, "The generator the codes are rendered with (any network source: pickle, "
                        "rosinality .pt, converted directory, URL, alias; default: the packaged network); frozen "
                        "unless --train-decoder", **_ARGS)
    flags.DEFINE_string("outdir", "results", "Where to make the numbered run directory", **_ARGS)
    flags.DEFINE_string("encoder_init", None, "IR-SE-50 ArcFace state dict (model_ir_se50.pth) for the encoder's "
                        "input layer and body, as pSp (needs --encoder-depths=64,128,256,512)", **_ARGS)
    flags.DEFINE_string("resume", None, "A run directory: continue it exactly (only --max-steps and the "
                        "--*-interval flags may be given with it); or a pSp checkpoint (.pt): start a new run from its encoder and latent_avg", **_ARGS)
    flags.DEFINE_list("encoder_depths", D["encoder_depths"], "The encoder's 4 stage widths (pSp's IR-SE-50: "
                      "64,128,256,512; narrower for small decoders). The style heads are the decoder's w_dim wide, "
                      "one per num_ws", **_ARGS)
    flags.DEFINE_integer("batch", D["batch"], "Training batch size (pSp's --batch_size)", **_ARGS)
    flags.DEFINE_integer("test_batch", D["test_batch"], "Validation batch size (pSp's --test_batch_size)", **_ARGS)
    flags.DEFINE_float("lr", D["lr"], "Learning rate (pSp's --learning_rate)", **_ARGS)
    flags.DEFINE_enum("optim", D["optim"], list(OPTIMIZERS), "Optimizer: pSp's Ranger or torch's Adam", **_ARGS)
    flags.DEFINE_boolean("start_from_latent_avg", D["start_from_latent_avg"], "Add latent_avg (the decoder's mean W, "
                         "or the --resume checkpoint's) to the encoder's codes", **_ARGS)
    for name, text in (("l2_lambda", "L2 loss weight"), ("lpips_lambda", "LPIPS loss weight"),
                       ("id_lambda", "ID (ArcFace) loss weight; > 0 needs --id-weights"),
                       ("w_norm_lambda", "W-norm loss weight"),
                       ("lpips_lambda_crop", "LPIPS loss weight on the face crop [35:223, 32:220]"),
                       ("l2_lambda_crop", "L2 loss weight on the face crop")):
        flags.DEFINE_float(name, D[name], text, **_ARGS)
    flags.DEFINE_string("id_weights", None, "IR-SE-50 ArcFace state dict for the ID loss (model_ir_se50.pth)", **_ARGS)
    flags.DEFINE_enum("lpips_net", D["lpips_net"], list(LPIPS_NETS), "LPIPS network: alex (pSp's; needs "
                      "--lpips-weights) or vgg (the project's VGG16 LPIPS-style distance)", **_ARGS)
    flags.DEFINE_string("lpips_weights", None, "alex: an lpips AlexNet state dict (lpips' linear layers lin*.model.1 "
                        "with torchvision's alexnet features as net.*); vgg: a Keras VGG16 weights file (default: "
                        "Keras's ImageNet download)", **_ARGS)
    flags.DEFINE_integer("max_steps", D["max_steps"], "Training steps (optimizer updates)", **_ARGS)
    flags.DEFINE_integer("image_interval", D["image_interval"], "Steps between image grids", **_ARGS)
    flags.DEFINE_integer("board_interval", D["board_interval"], "Steps between loss lines and TensorBoard scalars",
                         **_ARGS)
    flags.DEFINE_integer("val_interval", D["val_interval"], "Steps between validations (best_model.pt on a new best "
                         "validation loss)", **_ARGS)
    flags.DEFINE_integer("save_interval", D["save_interval"], "Steps between checkpoints/iteration_N.pt (default: "
                         "only at --max-steps)", **_ARGS)
    flags.DEFINE_float("val_fraction", D["val_fraction"], "Fraction of the pairs held out for validation (the last "
                       "ones in file order)", **_ARGS)
    flags.DEFINE_integer("seed", D["seed"], "Random seed (initial weights, data order, decoder noise)", **_ARGS)
    flags.DEFINE_boolean("train_decoder", D["train_decoder"], "Train the decoder's synthesis network too (saved in "
                         "the checkpoints' decoder.*)", **_ARGS)


OPTION_FLAGS = ("decoder", "outdir", "encoder_init", "encoder_depths", "batch", "test_batch", "lr", "optim",
                "start_from_latent_avg", "l2_lambda", "lpips_lambda", "id_lambda", "w_norm_lambda",
                "lpips_lambda_crop", "l2_lambda_crop", "id_weights", "lpips_net", "lpips_weights", "max_steps",
                "image_interval", "board_interval", "val_interval", "save_interval", "val_fraction", "seed",
                "train_decoder")


def train():
    """Train a pSp encoder (see the module docstring)."""
    if encoder_run.is_run_dir(FLAGS.resume):
        options = {name: FLAGS[name].value for name in OPTION_FLAGS if FLAGS[name].present}
    else:
        options = {name: FLAGS[name].value for name in OPTION_FLAGS}
        try:
            options["encoder_depths"] = [int(d) for d in FLAGS.encoder_depths]
        except ValueError:
            raise cli.CommandError("--encoder-depths takes 4 integers, got %s" % ",".join(FLAGS.encoder_depths)) \
                from None
    run_dir = encoder_run.train(FLAGS.dataset, FLAGS.resume, **options)
    print("Run directory: %s" % run_dir)


def main():
    define_flags()
    cli.run(train)
