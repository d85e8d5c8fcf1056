"""Train a pixel2style2pixel (pSp) encoder for any decoder network; see `tf_stylegan2/apps/run_encoder_training.py`.

Usage:
  python run_encoder_training.py --dataset=PAIRS_DIR --decoder=NETWORK [--outdir=results] [--batch=4]
      [--encoder-init=model_ir_se50.pth | --resume=PSP.pt | --resume=RUN_DIR] [--optim=ranger|adam] ...
"""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.run_encoder_training")
