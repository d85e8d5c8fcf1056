"""Evaluate StyleGAN2 networks with the official metrics: NVIDIA's run_metrics.py / calc_metrics.py for TF2 / Keras 3.

Usage:
  TF1 form: python run_metrics.py --network=PKL --metrics=fid50k,ppl_wend --data-dir=DIR --dataset=NAME
            [--mirror-augment=true]
  ADA form: python run_metrics.py --network=PKL --metrics=fid50k_full,kid50k_full,pr50k3_full,is50k,ppl_zfull
            --data=TFRECORD_DIR|ZIP|FOLDER [--mirror=1]
  Offline detectors: --inception=classify_image_graph_def.pb|inception-2015-12-05.tgz --vgg16=WEIGHTS.h5
Results go to <result-dir>/<NNNNN>-run-metrics/ (log.txt, metric-<name>.jsonl); one line per metric is printed.
"""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.run_metrics")
