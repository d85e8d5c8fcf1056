"""NVIDIA's network pickles (StyleGAN2 TF1, StyleGAN2-ADA TF, StyleGAN2-ADA PyTorch snapshots): import without executing them, and export."""

from tf_stylegan2.official.load import Networks, load_pickle
from tf_stylegan2.official.save import save_pickle
from tf_stylegan2.official.unpickler import NetworkPickleError

__all__ = ["NetworkPickleError", "Networks", "load_pickle", "save_pickle"]
