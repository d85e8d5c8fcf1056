"""Train StyleGAN2 networks: NVIDIA's run_training.py / StyleGAN2-ADA train.py for TF2 / Keras 3.

Usage:
  python run_training.py --data=DATASET --outdir=results [--cfg=auto] [--kimg=N] [--batch=N] [--gamma=G]
                         [--mirror] [--cond] [--aug=ada|noaug|fixed] [--resume=RUN_DIR|PKL|URL] [--metrics=none]
  python run_training.py --data-dir=datasets --dataset=ffhq --config=config-f --mirror-augment=true
Small CPU networks: --cbase=512 --cmax=64 --map=2. Results go to <outdir>/<NNNNN>-<desc>/.
"""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.run_training")
