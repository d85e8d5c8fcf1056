"""Encode images with a pixel2style2pixel (pSp) encoder; see `tf_stylegan2/apps/run_encoder.py`."""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.run_encoder")
