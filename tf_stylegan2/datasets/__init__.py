"""Datasets: NVIDIA's StyleGAN2 (TF1) multi-resolution TFRecords, StyleGAN2-ADA zips and image folders.

Reading (training, metrics, projector)::

    from tf_stylegan2 import datasets
    ds = datasets.open_dataset(path)   # TFRecord dir | ADA .zip | image folder; DatasetError if unusable
    ds.name, ds.num_images, ds.resolution, ds.num_channels, ds.label_dim, ds.labels
    for images, labels in ds.tf_dataset(batch_size=8, seed=0, mirror=True): ...  # float32 NHWC in [-1, 1]
    for images, labels in ds.iterate_uint8(batch_size=50): ...                   # uint8 NHWC, file order

Writing (`dataset_tool.py` calls these)::

    datasets.create_from_images(tfrecord_dir, image_dir, shuffle=True)   # the official TF1 layout
    datasets.write_tfrecords(tfrecord_dir, images_uint8_nhwc, labels=None, shuffle=True)  # from arrays
    datasets.convert(source, dest)                                       # StyleGAN2-ADA zip / folder
    with datasets.TFRecordExporter(tfrecord_dir, num_images) as ex:      # streaming, CHW images
        ex.add_image(chw); ex.add_labels(labels)
"""

from tf_stylegan2.datasets.errors import DatasetError
from tf_stylegan2.datasets.readers import Dataset, ImageFolderDataset, TFRecordDataset, open_dataset
from tf_stylegan2.datasets.tfrecords import TFRecordExporter, shuffled_order
from tf_stylegan2.datasets.create import convert, create_from_images, write_tfrecords
