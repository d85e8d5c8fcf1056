"""Create, convert and inspect StyleGAN2 datasets: NVIDIA's dataset_tool.py for TF2, plus the StyleGAN2-ADA form.

Usage: python dataset_tool.py SUBCOMMAND ARGS [flags]   (or --source=... --dest=... without a subcommand)
  create_from_images  tfrecord_dir image_dir [--shuffle=1] [--resolution=R --transform=center-crop] [--labels=F]
  create_from_hdf5    tfrecord_dir hdf5_filename [--shuffle=1]
  create_cifar10      tfrecord_dir cifar10_dir|cifar-10-python.tar.gz [--shuffle=1]
  create_mnist        tfrecord_dir mnist_dir [--shuffle=1]
  display             tfrecord_dir [--output=grid.png] [--num_images=64]
  extract             tfrecord_dir output_dir
  compare             tfrecord_dir_a tfrecord_dir_b [--ignore_labels=0]
  info                dataset (TFRecord directory, ADA zip or image folder)
  --source=DIR|ZIP|TFRECORD_DIR|cifar-10-python.tar.gz|train-images-idx3-ubyte.gz --dest=OUT.zip|DIR
      [--max-images=N] [--transform=center-crop|center-crop-wide|resize --width=W --height=H] [--resize-filter=box]
"""

import tf_stylegan2_startup

if __name__ == "__main__":
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.dataset_tool")
