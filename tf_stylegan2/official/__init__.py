"""Import of NVIDIA's official (TF1) StyleGAN2 network pickles, without executing them."""

from tf_stylegan2.official.load import Networks, load_pickle
from tf_stylegan2.official.unpickler import NetworkPickleError

__all__ = ["NetworkPickleError", "Networks", "load_pickle"]
