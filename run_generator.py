"""Generate images with StyleGAN2 networks: NVIDIA's run_generator.py for TF2 / Keras 3, plus more.

Usage: python run_generator.py SUBCOMMAND --network=PKL|URL|gdrive:networks/NAME.pkl|DIR [flags]
  generate-images        --seeds=1-3,7 [--truncation-psi=0.5] [--noise-mode=seeded] [--class=N]
  style-mixing-example   --row-seeds=85,100 --col-seeds=55,821 [--col-styles=0-6] [--truncation-psi=0.5]
  mix-latents            --latent1=A.npy --latent2=projected_w.npz [--weights=1,1,1,1,0.5]
  generate-from-latents  --latents=A.npy,projected_w.npz
  blend-networks         --high-res-network=PKL|DIR --resolution=32 [--level=0] [--blend-width=W]
  sefa                   [--layers=all|coarse|middle|fine|0-3,7] [--out=directions.npz]
  edit-latents           (--seeds=... | --latents=A.npy,projected_w.npz) --directions=directions.npz
                         [--direction=0] [--degrees=-5,0,5] [--layers=coarse]
                         PaddleGAN's form: --latent=A.npy --direction-path=D.npz --direction-name=age
                         --direction-offset=3
Results go to <result-dir>/<NNNNN>-<subcommand>/ (default result dir: results).
"""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.run_generator")
