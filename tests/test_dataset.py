"""Datasets: the official TF1 TFRecord layout against a NumPy re-implementation of NVIDIA's writer
(read back with plain tf.data), the readers (`open_dataset`), StyleGAN2-ADA zips and folders, Pillow
formats, transforms and the CIFAR-10 / MNIST / HDF5 sources (tiny fake archives in the standard formats)."""

import gzip
import io
import json
import os
import struct
import tarfile
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_stylegan2 import datasets
from tf_stylegan2.datasets import ada_format, create, inspection, pil_images, sources, tfrecords


def random_images(n, r, c, seed=0):
    """uint8 NHWC."""
    return np.random.RandomState(seed).randint(0, 256, [n, r, r, c]).astype(np.uint8)


def save_folder(directory, images, fmt="png"):
    os.makedirs(directory, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(os.path.join(directory, "%03d.%s" % (i, fmt)))


def reference_official_dataset(images_nchw, labels, shuffle):
    """NumPy re-implementation of NVIDIA's TFRecordExporter: {log2 res: uint8 [N, C, h, w]}, labels.

    Record i is image order[i], order = arange(N) shuffled by RandomState(123); level 0 is the image,
    level k the 2x2 mean of level k-1 (exact in float64: the values are dyadic), each stored copy rint
    (half to even) and clipped."""
    order = np.arange(len(images_nchw))
    if shuffle:
        np.random.RandomState(123).shuffle(order)
    levels = {}
    current = images_nchw[order].astype(np.float64)
    log2 = int(np.log2(images_nchw.shape[2]))
    for lod in range(log2 - 1):
        if lod:
            n, c, h, w = current.shape
            current = current.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
        levels[log2 - lod] = np.clip(np.rint(current), 0, 255).astype(np.uint8)
    return levels, (None if labels is None else labels[order])


def read_plain_tfrecords(path):
    """Records of a .tfrecords file via plain tf.data: uint8 [N, C, H, W] and the shapes stored."""
    spec = {"shape": tf.io.FixedLenFeature([3], tf.int64), "data": tf.io.FixedLenFeature([], tf.string)}
    images, shapes = [], []
    for record in tf.data.TFRecordDataset(path, compression_type=""):
        ex = tf.io.parse_single_example(record, spec)
        shape = ex["shape"].numpy()
        shapes.append(tuple(shape))
        images.append(np.frombuffer(ex["data"].numpy(), np.uint8).reshape(shape))
    return np.stack(images), shapes


@pytest.mark.parametrize("channels,res,shuffle,with_labels", [(3, 16, True, True), (1, 8, False, False)])
def test_tfrecords_equal_a_numpy_reimplementation_of_the_official_writer(tmp_path, channels, res, shuffle,
                                                                         with_labels):
    images = random_images(11, res, channels, seed=channels)
    labels = np.random.RandomState(5).randn(11, 4).astype(np.float32) if with_labels else None
    out = str(tmp_path / "mydata")
    assert datasets.write_tfrecords(out, images, labels, shuffle=shuffle) == 11

    expected, expected_labels = reference_official_dataset(images.transpose(0, 3, 1, 2), labels, shuffle)
    names = sorted(os.listdir(out))
    assert names == sorted(["mydata-r%02d.tfrecords" % k for k in expected] + (["mydata-rxx.labels"]
                                                                               if with_labels else []))
    ties = 0
    for log2, want in expected.items():
        got, shapes = read_plain_tfrecords(os.path.join(out, "mydata-r%02d.tfrecords" % log2))
        assert set(shapes) == {(channels, 2 ** log2, 2 ** log2)}  # int64 CHW
        np.testing.assert_array_equal(got, want)
    # the test can tell rounding modes apart: level 1 has many exact .5 averages (rint -> even)
    n, c, h, w = expected[int(np.log2(res))].shape
    sums = expected[int(np.log2(res))].astype(int).reshape(n, c, h // 2, 2, w // 2, 2).sum(axis=(3, 5))
    ties = np.sum(sums % 4 == 2)
    assert ties > 10
    if with_labels:
        stored = np.load(os.path.join(out, "mydata-rxx.labels"))  # np.save content despite the extension
        assert stored.dtype == np.float32
        np.testing.assert_array_equal(stored, expected_labels)


def test_shuffled_order_is_the_official_permutation():
    order = np.arange(1000)
    np.random.RandomState(123).shuffle(order)
    np.testing.assert_array_equal(datasets.shuffled_order(1000), order)


def test_exporter_streams_chw_images_and_rejects_other_shapes(tmp_path):
    out = str(tmp_path / "ds")
    with pytest.raises(datasets.DatasetError, match="all images must have one size"):
        with datasets.TFRecordExporter(out, 2) as ex:
            ex.add_image(np.zeros([3, 8, 8], np.uint8))
            ex.add_image(np.zeros([3, 16, 16], np.uint8))
    assert os.listdir(str(tmp_path)) == []  # nothing half-written
    with pytest.raises(datasets.DatasetError, match="expected 2 images, got 1"):
        with datasets.TFRecordExporter(out, 2) as ex:
            ex.add_image(np.zeros([1, 4, 4], np.uint8))
    assert os.listdir(str(tmp_path)) == []
    for bad, message in (([2, 8, 8], "RGB or grayscale"), ([3, 8, 4], "same width and height"),
                         ([3, 12, 12], "power-of-two")):
        with pytest.raises(datasets.DatasetError, match=message):
            with datasets.TFRecordExporter(out, 1) as ex:
                ex.add_image(np.zeros(bad, np.uint8))
    assert os.listdir(str(tmp_path)) == []


def test_count_records_reads_headers_and_detects_truncation(tmp_path):
    out = str(tmp_path / "ds")
    datasets.write_tfrecords(out, random_images(5, 8, 3))
    path = tfrecords.level_path(out, 3)
    assert tfrecords.count_records(path) == 5
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:-10])
    with pytest.raises(datasets.DatasetError, match="truncated"):
        tfrecords.count_records(path)
    with open(path, "wb") as f:
        f.write(data[:-3] + b"xyz")  # the last record's data CRC no longer matches
    with pytest.raises(datasets.DatasetError, match="ds-r03.tfrecords: .*corrupted"):
        list(datasets.open_dataset(path).iterate_uint8(2))


def test_tfrecord_reader_training_pipeline(tmp_path):
    images = random_images(10, 8, 3, seed=1)
    labels = np.eye(10, dtype=np.float32)
    out = str(tmp_path / "faces")
    datasets.write_tfrecords(out, images, labels)
    ds = datasets.open_dataset(out)
    assert (ds.name, ds.num_images, ds.resolution, ds.num_channels, ds.label_dim) == ("faces", 10, 8, 3, 10)
    order = datasets.shuffled_order(10)

    # file order, uint8, with labels; max_images
    got = list(ds.iterate_uint8(4))
    assert [x.shape[0] for x, _ in got] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in got]), images[order])
    np.testing.assert_array_equal(np.concatenate([c for _, c in got]), labels[order])
    assert sum(len(x) for x, _ in ds.iterate_uint8(3, max_images=5)) == 5

    # one epoch without repeat is a permutation; values x / 127.5 - 1; labels travel with their image
    batches = list(ds.tf_dataset(5, shuffle=True, seed=7, repeat=False))
    x = np.concatenate([b[0].numpy() for b in batches])
    c = np.concatenate([b[1].numpy() for b in batches])
    assert x.dtype == np.float32 and x.shape == (10, 8, 8, 3)
    ids = c.argmax(axis=1)
    assert sorted(ids) == list(range(10)) and list(ids) != list(range(10))
    np.testing.assert_allclose(x, images[ids] / 127.5 - 1, atol=1e-6)

    def first_batches(seed, mirror=False, n=6):
        return [(b[0].numpy(), b[1].numpy()) for b in ds.tf_dataset(4, seed=seed, mirror=mirror).take(n)]

    a, b, other = first_batches(3), first_batches(3), first_batches(4)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))  # deterministic for a seed, across epochs
    assert not all(np.array_equal(p[1], q[1]) for p, q in zip(a, other))
    assert all(len(batch[0]) == 4 for batch in a)  # repeat + drop_remainder

    # mirror: each image is itself or its W-flip, both occur, and the choice is seeded
    m1, m2 = first_batches(3, mirror=True), first_batches(3, mirror=True)
    flipped = 0
    for (xm, cm), (xm2, _) in zip(m1, m2):
        np.testing.assert_array_equal(xm, xm2)
        for img, label in zip(xm, cm):
            src = images[label.argmax()] / 127.5 - 1
            same = np.allclose(img, src, atol=1e-6)
            assert same or np.allclose(img, src[:, ::-1], atol=1e-6)
            flipped += not same
    assert 0 < flipped < 24

    unlabeled = datasets.open_dataset(out, use_labels=False)
    assert unlabeled.labels is None and unlabeled.label_dim == 0
    assert next(iter(unlabeled.tf_dataset(2)))[1].shape == (2, 0)


def test_reader_accepts_official_directories_missing_lower_levels_and_single_files(tmp_path):
    out = str(tmp_path / "ds")
    images = random_images(3, 16, 1)
    datasets.write_tfrecords(out, images, shuffle=False)
    os.remove(tfrecords.level_path(out, 2))
    ds = datasets.open_dataset(out)
    assert ds.resolution == 16 and ds.num_channels == 1
    single = datasets.open_dataset(tfrecords.level_path(out, 3))
    assert single.resolution == 8 and single.num_images == 3
    x, _ = next(single.iterate_uint8(3))
    np.testing.assert_array_equal(x, reference_official_dataset(images.transpose(0, 3, 1, 2), None, False)[0][3]
                                  .transpose(0, 2, 3, 1))
    with open(os.path.join(out, "ds-rxx.labels"), "wb") as f:
        np.save(f, np.zeros([2, 3], np.float32))
    with pytest.raises(datasets.DatasetError, match="labels of shape \\(2, 3\\) for 3 images"):
        datasets.open_dataset(out)
    with pytest.raises(datasets.DatasetError, match="no \\*.tfrecords files"):
        tfrecords.find_levels(str(tmp_path))
    with pytest.raises(datasets.DatasetError, match="Missing input file or directory"):
        datasets.open_dataset(str(tmp_path / "nothing"))


def test_ada_zip_round_trip_and_conversions_between_the_formats(tmp_path):
    images = random_images(7, 8, 3, seed=2)
    src = str(tmp_path / "src")
    save_folder(src, images)
    with open(os.path.join(src, "dataset.json"), "w") as f:
        json.dump({"labels": [["%03d.png" % i, i % 3] for i in range(7)]}, f)

    dest = str(tmp_path / "my-set.zip")
    assert datasets.convert(src, dest, progress=False) == 7
    with zipfile.ZipFile(dest) as z:
        infos = z.infolist()
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        names = [i.filename for i in infos]
        assert names == ["00000/img%08d.png" % i for i in range(7)] + ["dataset.json"]
        meta = json.loads(z.read("dataset.json"))
        assert meta == {"labels": [["00000/img%08d.png" % i, i % 3] for i in range(7)]}
        with Image.open(io.BytesIO(z.read(names[0]))) as img:
            assert img.mode == "RGB" and img.format == "PNG"

    ds = datasets.open_dataset(dest)
    assert (ds.name, ds.num_images, ds.resolution, ds.label_dim) == ("my-set", 7, 8, 3)
    x, c = next(ds.iterate_uint8(10))
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(c.argmax(1), np.arange(7) % 3)  # class index -> one-hot of size max + 1
    assert np.all(c.sum(1) == 1)
    batch = next(iter(ds.tf_dataset(7, seed=1, repeat=False)))
    np.testing.assert_allclose(np.sort(batch[0].numpy().ravel()), np.sort(images.ravel() / 127.5 - 1), atol=1e-6)

    # ADA zip -> official TFRecords (labels follow the shuffle) -> ADA folder: identical images and labels
    tf_dir = str(tmp_path / "tf")
    assert datasets.create_from_images(tf_dir, dest, progress=False) == 7
    order = datasets.shuffled_order(7)
    tfds = datasets.open_dataset(tf_dir)
    xt, ct = next(tfds.iterate_uint8(10))
    np.testing.assert_array_equal(xt, images[order])
    np.testing.assert_array_equal(ct, c[order])
    folder = str(tmp_path / "folder")
    assert datasets.convert(tf_dir, folder, progress=False) == 7
    assert sorted(os.listdir(os.path.join(folder, "00000"))) == ["img%08d.png" % i for i in range(7)]
    result = inspection.compare(tf_dir, folder, report=lambda line: None)
    assert result == dict(num_a=7, num_b=7, identical_images=7, identical_labels=7)

    # float labels from a .npy
    float_labels = np.random.RandomState(0).randn(7, 2).astype(np.float32)
    np.save(str(tmp_path / "l.npy"), float_labels)
    dest2 = str(tmp_path / "float.zip")
    datasets.convert(src, dest2, labels=str(tmp_path / "l.npy"), progress=False)
    np.testing.assert_allclose(datasets.open_dataset(dest2).labels, float_labels, rtol=1e-6)


def test_ada_archive_names_split_into_folders_of_1000():
    names = [ada_format.archive_name(i) for i in (0, 999, 1000, 123456)]
    assert names == ["00000/img00000000.png", "00000/img00000999.png", "00001/img00001000.png",
                     "00123/img00123456.png"]


def test_image_folder_reader_checks(tmp_path):
    save_folder(str(tmp_path / "a"), random_images(2, 8, 3))
    Image.fromarray(random_images(1, 16, 3)[0]).save(str(tmp_path / "a" / "sub.png"))
    ds = datasets.open_dataset(str(tmp_path / "a"))
    with pytest.raises(datasets.DatasetError, match="sub.png: 16x16 with 3 channels, the dataset is 8x8 with 3$"):
        list(ds.iterate_uint8(4))
    with pytest.raises(tf.errors.OpError, match="sub.png: 16x16 with 3 channels"):
        list(ds.tf_dataset(3, repeat=False))
    os.makedirs(str(tmp_path / "empty"))
    (tmp_path / "empty" / "readme.txt").write_text("no images")
    with pytest.raises(datasets.DatasetError, match="no image files found"):
        datasets.open_dataset(str(tmp_path / "empty"))
    Image.new("RGB", (8, 6)).save(str(tmp_path / "wide.png"))
    os.makedirs(str(tmp_path / "b"))
    os.replace(str(tmp_path / "wide.png"), str(tmp_path / "b" / "wide.png"))
    with pytest.raises(datasets.DatasetError, match="wide.png: 8x6 image is not square"):
        datasets.open_dataset(str(tmp_path / "b"))


def test_pillow_formats_are_converted_with_notes(tmp_path):
    src = tmp_path / "src"
    os.makedirs(str(src))
    yy, xx = np.mgrid[0:8, 0:8]
    rgb = np.stack([xx * 30, yy * 30, 100 + xx * yy], axis=2).astype(np.uint8)  # smooth: JPEG keeps it closely
    Image.fromarray(rgb).save(str(src / "a.png"))
    Image.fromarray(rgb).save(str(src / "b.jpg"), quality=95, subsampling=0)
    Image.fromarray(rgb).save(str(src / "c.webp"), lossless=True)
    rgba = np.concatenate([rgb, np.full([8, 8, 1], 255, np.uint8)], axis=2)
    rgba[:4, :, 3] = 0  # top half transparent -> white
    Image.fromarray(rgba, "RGBA").save(str(src / "d.png"))
    Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=16).save(str(src / "e.gif"))
    preparer = create.ImagePreparer()
    source = sources.ImageFilesSource(str(src))
    out = {os.path.basename(name): preparer(image, name) for _, name, image in source.items()}
    np.testing.assert_array_equal(out["a.png"], rgb)
    np.testing.assert_array_equal(out["c.webp"], rgb)
    assert np.abs(out["b.jpg"].astype(int) - rgb).mean() < 4
    assert np.all(out["d.png"][:4] == 255)
    np.testing.assert_array_equal(out["d.png"][4:], rgb[4:])
    assert out["e.gif"].shape == (8, 8, 3)
    assert set(preparer.notes) == {"RGBA composited over white", "P converted to RGB"}
    assert preparer.notes["RGBA composited over white"][0] == 1

    grey16 = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    img16, note = pil_images.to_mode(Image.fromarray(grey16), 1)
    assert note == "16-bit greyscale reduced to 8 bits"
    np.testing.assert_array_equal(np.asarray(img16), (grey16 >> 8).astype(np.uint8))


def test_transforms_resolution_and_non_power_of_two(tmp_path):
    src = str(tmp_path / "src")
    os.makedirs(src)
    wide = np.zeros([30, 60, 3], np.uint8)
    wide[:, 15:45] = 200  # the centre square is grey 200, the sides black
    Image.fromarray(wide).save(os.path.join(src, "a.png"))
    Image.fromarray(np.full([45, 90, 3], 200, np.uint8)).save(os.path.join(src, "b.png"))

    with pytest.raises(datasets.DatasetError, match="[ab].png: Input images must have the same width and height"):
        datasets.create_from_images(str(tmp_path / "x"), src, progress=False)
    with pytest.raises(datasets.DatasetError, match="requires --resolution"):
        datasets.create_from_images(str(tmp_path / "x"), src, transform="center-crop", progress=False)
    assert not os.path.exists(str(tmp_path / "x"))

    out = str(tmp_path / "crop")
    datasets.create_from_images(out, src, resolution=16, transform="center-crop", shuffle=False, progress=False)
    x, _ = next(datasets.open_dataset(out).iterate_uint8(2))
    assert x.shape == (2, 16, 16, 3)
    assert np.all(np.abs(x.astype(int) - 200) <= 1)

    out = str(tmp_path / "resize")
    datasets.create_from_images(out, src, resolution=8, transform="resize", shuffle=False, progress=False)
    x, _ = next(datasets.open_dataset(out).iterate_uint8(2))
    assert x.shape == (2, 8, 8, 3) and x[0, 4, 0, 0] < 50 and x[0, 4, 4, 0] > 150  # squashed: sides kept

    # center-crop-wide (ADA): 60x30 at width 16, height 8 -> round(16*30/60) = 8 rows, pasted on 16x16 black
    out = str(tmp_path / "wide.zip")
    datasets.convert(src, out, width=16, height=8, transform="center-crop-wide", progress=False)
    x, _ = next(datasets.open_dataset(out).iterate_uint8(2))
    assert x.shape == (2, 16, 16, 3)
    assert np.all(x[:, :4] == 0) and np.all(x[:, 12:] == 0) and np.all(np.abs(x[1, 4:12].astype(int) - 200) <= 1)

    # square but not a power of two: --resolution resizes
    odd = str(tmp_path / "odd")
    save_folder(odd, random_images(2, 12, 1))
    with pytest.raises(datasets.DatasetError, match="power-of-two"):
        datasets.create_from_images(str(tmp_path / "y"), odd, progress=False)
    datasets.create_from_images(str(tmp_path / "y"), odd, resolution=8, progress=False)
    assert datasets.open_dataset(str(tmp_path / "y")).shape == (8, 8, 1)


def py2_pickle_of_cifar_batch(data, labels):
    """A CIFAR-10 'python version' batch as Python 2's cPickle writes it (protocol 2, str = BINSTRING):
    {'data': uint8 ndarray [n, 3072], 'labels': [int, ...]}."""
    def s(text):
        text = text if isinstance(text, bytes) else text.encode("latin1")
        return (b"U" + bytes([len(text)]) + text) if len(text) < 256 else b"T" + struct.pack("<i", len(text)) + text

    def i(value):
        return b"J" + struct.pack("<i", value)

    dtype = b"cnumpy\ndtype\n" + s("u1") + i(0) + i(1) + b"\x87R" + b"(" + i(3) + s("|") + b"NNN" + i(-1) + i(-1) + \
        i(0) + b"tb"
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + i(0) + b"\x85" + s("b") + b"\x87R" +
             b"(" + i(1) + i(data.shape[0]) + i(data.shape[1]) + b"\x86" + dtype + b"\x89" + s(data.tobytes()) +
             b"tb")
    label_list = b"](" + b"".join(i(int(v)) for v in labels) + b"e"
    return b"\x80\x02}(" + s("data") + array + s("labels") + label_list + s("batch_label") + s("fake") + b"u."


def test_cifar10_sources_from_the_python_batches(tmp_path):
    rng = np.random.RandomState(0)
    batches = [(rng.randint(0, 256, [3, 3072]).astype(np.uint8), rng.randint(0, 10, 3)) for _ in range(5)]
    folder = tmp_path / "cifar-10-batches-py"
    os.makedirs(str(folder))
    for k, (data, labels) in enumerate(batches):
        (folder / ("data_batch_%d" % (k + 1))).write_bytes(py2_pickle_of_cifar_batch(data, labels))
    archive = str(tmp_path / "cifar-10-python.tar.gz")
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(str(folder), arcname="cifar-10-batches-py")

    all_data = np.concatenate([d for d, _ in batches]).reshape(15, 3, 32, 32)
    all_labels = np.concatenate([l for _, l in batches])
    for path in (str(folder), archive):
        source = sources.cifar10_source(path)
        assert source.num_images == 15
        np.testing.assert_array_equal(source.labels.argmax(1), all_labels)
        assert source.labels.shape == (15, 10)
        name, image = source.load(4)
        np.testing.assert_array_equal(image, all_data[4].transpose(1, 2, 0))

    out = str(tmp_path / "tf")
    create.write_tfrecords_from_source(sources.cifar10_source(str(folder)), out, progress=False)
    order = datasets.shuffled_order(15)
    x, c = next(datasets.open_dataset(out).iterate_uint8(15))
    np.testing.assert_array_equal(x, all_data[order].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(c.argmax(1), all_labels[order])

    (folder / "data_batch_3").write_bytes(b"\x80\x02cos\nsystem\n(S'echo hi'\ntR.")
    with pytest.raises(datasets.DatasetError, match="data_batch_3: not a CIFAR-10 python batch .*refused"):
        sources.cifar10_source(str(folder))


def write_idx(path, array, magic):
    header = struct.pack(">II", magic, array.shape[0]) + b"".join(struct.pack(">I", d) for d in array.shape[1:])
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_and_hdf5_sources(tmp_path):
    rng = np.random.RandomState(1)
    digits = rng.randint(0, 256, [6, 28, 28])
    classes = rng.randint(0, 10, 6)
    write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), digits, 2051)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), classes, 2049)
    for path in (str(tmp_path), str(tmp_path / "train-images-idx3-ubyte.gz")):
        source = sources.mnist_source(path)
        name, image = source.load(2)
        assert image.shape == (32, 32, 1) and image[:2].sum() == 0 and image[:, 30:].sum() == 0
        np.testing.assert_array_equal(image[2:30, 2:30, 0], digits[2])
        np.testing.assert_array_equal(source.labels.argmax(1), classes)
    write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), classes[:5], 2049)
    with pytest.raises(datasets.DatasetError, match="5 labels .* for 6 images"):
        sources.mnist_source(str(tmp_path))

    import h5py
    images = random_images(4, 8, 3).transpose(0, 3, 1, 2)  # the official HDF5 layout is NCHW
    with h5py.File(str(tmp_path / "faces.h5"), "w") as f:
        f["data4x4"] = images[:, :, ::2, ::2]
        f["data8x8"] = images
    np.save(str(tmp_path / "faces-labels.npy"), np.arange(8, dtype=np.float32).reshape(4, 2))
    out = str(tmp_path / "h5tf")
    create.write_tfrecords_from_source(sources.hdf5_source(str(tmp_path / "faces.h5")), out, progress=False)
    x, c = next(datasets.open_dataset(out).iterate_uint8(4))
    order = datasets.shuffled_order(4)
    np.testing.assert_array_equal(x, images[order].transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(c, np.arange(8, dtype=np.float32).reshape(4, 2)[order])


def test_zip_reader_opens_the_archive_once_from_tf_data_threads(tmp_path, monkeypatch):
    from tf_stylegan2.datasets import image_files
    save_folder(str(tmp_path / "src"), random_images(12, 8, 3))
    datasets.convert(str(tmp_path / "src"), str(tmp_path / "d.zip"), progress=False)
    opened = []
    real = image_files.zipfile.ZipFile

    class CountingZipFile(real):
        def __init__(self, *args, **kwargs):
            opened.append(args[0])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(image_files.zipfile, "ZipFile", CountingZipFile)
    ds = datasets.open_dataset(str(tmp_path / "d.zip"))
    assert sum(len(x) for x, _ in ds.tf_dataset(4, repeat=False)) == 12
    assert len(opened) == 1
