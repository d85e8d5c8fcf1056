"""TF Serving's own loader: the C client (`tests/c/saved_model_client.c`, the `serve_signature`
fixture) compiled against the C API shipped in the `tensorflow` wheel loads the exported SavedModel
with tag `serve` through `TF_LoadSessionFromSavedModel` (the session-based SavedModelBundle path TF
Serving uses), runs the `serving_default` signature on the `public` fixture's z with psi 0.5, and
must give NVIDIA's reference images as uint8 within 1 LSB.
"""

import numpy as np

from conftest import assert_uint8_close, load_fixture_networks, load_reference
from tf_stylegan2.export.saved_model import export_saved_model


def test_tf_serving_loader_gives_the_reference_images(serve_signature, tmp_path):
    ref = load_reference("public")
    export_dir = str(tmp_path / "saved_model")
    export_saved_model(load_fixture_networks("public").G_ema, export_dir)
    images = serve_signature(export_dir, "serving_default", z=ref["z"].astype(np.float32),
                             truncation_psi=np.float32(0.5))["images"]
    expected = ref["img_psi0.5_uint8_nhwc"]
    assert images.dtype == np.uint8
    assert_uint8_close(images, expected)
