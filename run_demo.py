"""A local web page to explore a StyleGAN2 network: generate, style mixing, SeFa editing, projection.

Usage: python run_demo.py [--network=PKL|URL|ALIAS|DIR] [--host=127.0.0.1] [--port=7860]
                          [--vgg16=imagenet|WEIGHTS.h5] [--lpips-weights=LIN.npz] [--encoder=PSP.pt]
Needs the demo extra: pip install -e ".[demo]". Serves http://127.0.0.1:7860/ by default, to this
machine only; there is no --share (no public link is ever made). See `tf_stylegan2/demo/`.
"""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.demo.app")
