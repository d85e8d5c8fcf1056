"""SavedModel export of a generator for TF Serving, and the generator backed by such a SavedModel."""

from tf_stylegan2.export.saved_model import SIGNATURES, export_saved_model, serving_module
from tf_stylegan2.export.served import SavedModelGenerator, is_saved_model_dir

__all__ = ["SIGNATURES", "SavedModelGenerator", "export_saved_model", "is_saved_model_dir", "serving_module"]
