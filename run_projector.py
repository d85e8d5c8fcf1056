"""Project generated or real images into a StyleGAN2 latent space; see `tf_stylegan2/apps/run_projector.py`."""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.run_projector")
