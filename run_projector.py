"""Project generated or real images into a StyleGAN2 latent space; see `tf_stylegan2/apps/run_projector.py`."""

from tf_stylegan2.apps.run_projector import main

if __name__ == "__main__":
    main()
