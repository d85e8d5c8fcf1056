"""Official pickle (or any Keras source) -> converted directory with Keras weights and a SavedModel."""

import os

import numpy as np
import tensorflow as tf

from tf_stylegan2 import converted, sources
from tf_stylegan2.files import atomic_directory
from tf_stylegan2.progress import Progress
from tf_stylegan2.export import served
from tf_stylegan2.export.saved_model import export_saved_model
from tf_stylegan2.images import to_uint8
from tf_stylegan2.seeds import z_from_seeds

SAVED_MODEL_DIR = "saved_model"
KERAS_FILE = "G_ema.keras"
VERIFY_FLOAT_TOLERANCE = 1e-4
VERIFY_UINT8_TOLERANCE = 1


def convert_network(source, output_dir, cache_dir=None, saved_model=True, verify_seeds=0, truncation_psi=0.5,
                    keras_file=False):
    """Write `output_dir` (atomically: it appears, or replaces an existing one, only when complete):
    `config.json` + `{G,D,G_ema}.weights.h5` (see `tf_stylegan2.converted`; G and D only when the
    source has them, e.g. not for a rosinality `g_ema` + `latent_avg` file), `saved_model/`, and with
    `keras_file` `G_ema.keras` (a Keras file: `keras.saving.load_model` reads it once `tf_stylegan2`
    is imported, which registers the classes).

    Args:
      source: anything `tf_stylegan2.load_network` reads that yields Keras networks (pickle path,
        URL, alias or converted directory; None: the packaged default network).
      verify_seeds: run seeds `0..verify_seeds-1` through the Keras G_ema and the reloaded SavedModel.
    Returns:
      `verify_saved_model`'s dict (empty without verification).
    Raises:
      ValueError: unsupported source or a verification above tolerance (nothing is written).
      OSError: unwritable output, download failures.
    """
    with atomic_directory(output_dir) as tmp:
        nets = sources.load_network(source, cache_dir=cache_dir, progress=True)
        if isinstance(nets.G_ema, served.SavedModelGenerator):
            raise ValueError("%s is a SavedModel: convert from the pickle or the converted directory" % source)
        stages = Progress(total=2 + int(verify_seeds > 0) + int(keras_file), desc="convert")
        converted.save(nets, tmp, source=str(sources.DEFAULT_NETWORK if source is None else source))
        stages.update(1, status="Keras weights written")
        if keras_file:
            nets.G_ema.save(os.path.join(tmp, KERAS_FILE))
            stages.update(1, status="%s written" % KERAS_FILE)
        report = {}
        if saved_model:
            export_saved_model(nets.G_ema, os.path.join(tmp, SAVED_MODEL_DIR))
            stages.update(1, status="SavedModel written")
            if verify_seeds > 0:
                report = verify_saved_model(nets.G_ema, os.path.join(tmp, SAVED_MODEL_DIR), range(verify_seeds),
                                            truncation_psi)
                stages.update(1, status="verified")
        stages.close()
        if report and (report["float_max_abs"] > VERIFY_FLOAT_TOLERANCE
                       or report["uint8_max_abs"] > VERIFY_UINT8_TOLERANCE):
            raise ValueError("verification failed: SavedModel differs from the Keras model by %.3g (float), %d (uint8)"
                             % (report["float_max_abs"], report["uint8_max_abs"]))
    return report


def verify_saved_model(G, path, seeds, truncation_psi=0.5):
    """Max-abs differences between the Keras generator `G` and the SavedModel at `path` on `seeds`.

    Returns:
      {"seeds": n, "w_max_abs": float, "float_max_abs": float (synthesis_float), "uint8_max_abs": int
      (serving_default, in LSB)}.
    """
    loaded = tf.saved_model.load(path)
    z = z_from_seeds(list(seeds), G.z_dim)
    c = np.eye(G.c_dim, dtype=np.float32)[np.arange(len(z)) % G.c_dim] if G.c_dim else None
    w = G.mapping(z, c, truncation_psi=truncation_psi)
    img = G.synthesis(w, noise_mode="const")
    inputs = dict(z=tf.constant(z), truncation_psi=tf.constant(truncation_psi, tf.float32))
    if c is not None:
        inputs["c"] = tf.constant(c)
    w_saved = loaded.signatures["mapping"](**inputs)["w"]
    img_saved = loaded.signatures["synthesis_float"](w=w, random_noise=tf.constant(False))["images"]
    u8_saved = loaded.signatures["serving_default"](**inputs)["images"]
    return {"seeds": len(z),
            "w_max_abs": float(np.max(np.abs(w_saved.numpy() - w.numpy()))),
            "float_max_abs": float(np.max(np.abs(img_saved.numpy() - img.numpy()))),
            "uint8_max_abs": int(np.max(np.abs(u8_saved.numpy().astype(int) - to_uint8(img).numpy().astype(int))))}
