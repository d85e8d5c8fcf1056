"""Projector: spec §6 schedules and regulariser, the optimisation on the fixture networks,
real-image targets, and `run_projector.py` end to end (outputs, re-rendering, one-line errors).

The VGG16 is `random_vgg16(0)` (no download); the fixture networks are random too, so the
thresholds below come from measured runs (see each test) with margin, not from real photos.
"""

import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from conftest import fixture_path, load_fixture_networks, offline_env

import tf_stylegan2 as sg
from tf_stylegan2 import projector
from tf_stylegan2.images import to_uint8_rounded
from tf_stylegan2.projector import lpips, targets
from tf_stylegan2.projector.projector import box_downsample, noise_regularization

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# TensorFlow's C++ start-up log lines, printed before Python runs and not silenced by TF_CPP_MIN_LOG_LEVEL.
TF_NATIVE_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|[IWEF]\d{4} )")


@pytest.fixture(scope="module")
def distance():
    return projector.PerceptualDistance(lpips.random_vgg16(0))


@pytest.fixture(scope="module")
def vgg16_file(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("vgg") / "vgg16_random.weights.h5")
    lpips.random_vgg16(0).save_weights(path)
    return path


def generated_target(G, seed):
    z, noise = sg.seeded_noise(seed, G.z_dim, G.synthesis.num_noise)
    return G.synthesis(G.mapping(z), noise=noise).numpy()


def psnr(a, b):
    """PSNR in dB of the saved-PNG (rint) versions of two [-1, 1] images."""
    mse = np.mean((to_uint8_rounded(a).astype(np.float64) - to_uint8_rounded(b)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def test_schedules_equal_spec_formulas():
    w_std = 3.0
    # t = 0: lr exactly 0 (ramp-up), full latent noise.
    assert projector.learning_rate(0.0) == 0.0
    assert projector.noise_strength(0.0, w_std) == pytest.approx(w_std * 0.05)
    # t = 0.5: past the ramp-up, before the ramp-down: lr = 0.1; noise (1 - 0.5/0.75)^2 = 1/9.
    assert projector.learning_rate(0.5) == pytest.approx(0.1)
    assert projector.noise_strength(0.5, w_std) == pytest.approx(w_std * 0.05 / 9)
    # t = 1: both 0.
    assert projector.learning_rate(1.0) == pytest.approx(0.0, abs=1e-12)
    assert projector.noise_strength(1.0, w_std) == 0.0
    # Inside the ramps, the spec's formulas term by term.
    t = 0.9
    r = 0.5 - 0.5 * math.cos(math.pi * min(1.0, (1 - t) / 0.25))
    assert projector.learning_rate(t, 0.2) == pytest.approx(0.2 * r)
    assert projector.learning_rate(0.01) == pytest.approx(0.1 * 0.01 / 0.05)
    assert projector.snapshot_steps(1000, 5) == {200, 400, 600, 800, 1000}
    assert projector.snapshot_steps(40, 3) == {14, 27, 40}


def test_noise_regularization_and_box_downsample():
    ones = tf.ones([1, 16, 16, 1])
    assert float(noise_regularization([ones])) == pytest.approx(4.0)  # 2 per scale, scales 16 and 8
    checker = tf.constant((np.indices([8, 8]).sum(0) % 2 * 2 - 1).astype(np.float32).reshape(1, 8, 8, 1))
    assert float(noise_regularization([checker, ones[:, :8, :8]])) == pytest.approx(4.0)
    img = tf.random.normal([1, 512, 512, 3])
    down = box_downsample(img, 256)
    assert down.shape == (1, 256, 256, 3)
    np.testing.assert_allclose(down[0, 3, 5], tf.reduce_mean(img[0, 6:8, 10:12], axis=[0, 1]), atol=1e-6)
    assert box_downsample(img, 512) is img


def test_w_statistics_are_the_rms_spread_of_first_ws():
    G = load_fixture_networks("orig").G_ema
    w_avg, w_std = projector.w_statistics(G.mapping, 1000)
    w = G.mapping(np.random.RandomState(123).randn(1000, G.z_dim).astype(np.float32)).numpy()[:, 0]
    assert w_avg.shape == (1, 1, G.w_dim)
    np.testing.assert_allclose(w_avg[0, 0], w.mean(0), atol=1e-5)
    assert w_std == pytest.approx(np.sqrt(np.mean(np.linalg.norm(w - w.mean(0), axis=1) ** 2)), rel=1e-5)


@pytest.mark.parametrize("space,seed", [("w", 0), ("w+", 1)])
def test_projecting_a_generated_image(distance, space, seed):
    G = load_fixture_networks("public").G_ema
    num_steps = 40
    proj = projector.Projector(G, distance, space=space,
                               hyperparameters=projector.OFFICIAL._replace(num_steps=num_steps))
    target = generated_target(G, seed)
    buffers = [v.numpy() for v in G.synthesis.noise_buffers]
    proj.start(target)
    before = proj.images()
    results = list(proj.run(target))
    after = proj.images()

    assert [r.step for r in results] == list(range(1, num_steps + 1))
    # Measured with 40 steps over seeds 0-3 in w and w+: last/first distance 0.05-0.13,
    # PSNR gain 7.1-9.7 dB (27-29 dB final). Asserted with margin: ratio < 0.3, gain > 5 dB.
    assert results[-1].distance < 0.3 * results[0].distance
    assert psnr(after, target) - psnr(before, target) > 5.0
    # The last step ran with the spec's lr for t = (num_steps - 1) / num_steps.
    assert float(proj.optimizer.learning_rate) == pytest.approx(projector.learning_rate((num_steps - 1) / num_steps))

    w = proj.w()
    assert w.shape == (1, G.num_ws, G.w_dim)
    row_spread = np.abs(w - w[:, :1]).max()
    if space == "w":
        assert row_spread == 0.0
    else:
        assert row_spread > 1e-2
    for n in proj.noise():  # renormalised after every step
        assert abs(n.mean()) < 1e-5 and n.std() == pytest.approx(1.0, abs=1e-4)
    for v, b in zip(G.synthesis.noise_buffers, buffers):  # the network itself is untouched
        np.testing.assert_array_equal(v.numpy(), b)


def test_distance_is_zero_for_identical_images_and_uses_linear_weights(distance, tmp_path):
    a = tf.random.uniform([2, 32, 32, 3], 0, 255, seed=1)
    b = tf.random.uniform([2, 32, 32, 3], 0, 255, seed=2)
    assert np.allclose(distance(a, a), 0.0, atol=1e-6)
    d = distance(a, b).numpy()
    assert d.shape == (2,) and (d > 0).all()
    path = str(tmp_path / "lin.npz")
    np.savez(path, **{"lin%d" % i: np.full([1, c, 1, 1], 0.5) for i, c in enumerate((64, 128, 256, 512, 512))})
    halved = projector.PerceptualDistance(distance.vgg16, projector.load_linear_weights(path))
    np.testing.assert_allclose(halved(a, b), d / 2, rtol=1e-5)
    np.savez(path, lin0=np.ones(3))
    with pytest.raises(ValueError, match="missing arrays lin1"):
        projector.load_linear_weights(path)


def test_vgg16_weights_file_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="not found; pass --vgg16=PATH") as e:
        lpips.vgg16_backbone(str(tmp_path / "missing.weights.h5"))
    assert "\n" not in str(e.value)
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="cannot load VGG16 weights") as e:
        lpips.vgg16_backbone(str(bad))
    assert "\n" not in str(e.value)


def test_real_image_files_of_odd_sizes_and_modes(tmp_path):
    # 37x23 RGBA: the centre 23x23 is transparent black in its top 10 rows, opaque grey 200 below;
    # the 7 columns on either side (cropped away) are opaque black.
    rgba = np.zeros([23, 37, 4], np.uint8)
    rgba[..., 3] = 255
    rgba[:10, 7:30, 3] = 0
    rgba[10:, 7:30, :3] = 200
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    grey = (np.arange(19 * 31).reshape(31, 19) % 256).astype(np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "b.jpg", quality=95)
    Image.fromarray(grey.astype(np.uint16) * 256).save(tmp_path / "c.png")  # 16-bit greyscale
    (tmp_path / "notes.txt").write_text("not an image")

    paths = targets.image_paths([str(tmp_path)])
    assert [os.path.basename(p) for p in paths] == ["a.png", "b.jpg", "c.png"]
    assert targets.image_paths([str(tmp_path / "*.png")]) == [paths[0], paths[2]]

    t, note = targets.load_image(paths[0], 16)
    assert t.shape == (1, 16, 16, 3) and t.dtype == np.float32
    assert note == "37x23 centre-cropped to 23x23, resized from 23x23 to 16x16"
    np.testing.assert_allclose(t[0, 0], 1.0, atol=0.02)  # transparent pixels over white
    np.testing.assert_allclose(t[0, 12:], 200 / 127.5 - 1, atol=0.02)
    for path in paths[1:]:
        t, note = targets.load_image(path, 32)
        assert t.shape == (1, 32, 32, 3) and note.startswith("19x31 centre-cropped to 19x19")
        assert -1.0 <= t.min() and t.max() <= 1.0 and t.std() > 0.1
        np.testing.assert_array_equal(t[..., 0], t[..., 2])  # greyscale -> equal channels
    t, note = targets.load_image(paths[0], 23, channels=1)
    assert t.shape == (1, 23, 23, 1) and note == "37x23 centre-cropped to 23x23"

    with pytest.raises(ValueError, match="notes.txt: not a readable image"):
        targets.load_image(str(tmp_path / "notes.txt"), 16)
    with pytest.raises(ValueError, match="no image files found"):
        targets.image_paths([str(tmp_path / "*.webp")])


def write_tfrecords(directory, images):
    """An official-format dataset: `-rNN.tfrecords` per level of detail, Examples with
    `shape` [C, H, W] and `data` = uint8 CHW bytes."""
    os.makedirs(directory)
    for lod, factor in ((3, 2), (4, 1)):
        with tf.io.TFRecordWriter(os.path.join(directory, "ds-r%02d.tfrecords" % lod)) as writer:
            for img in images:
                chw = img[:, ::factor, ::factor]
                feature = {"shape": tf.train.Feature(int64_list=tf.train.Int64List(value=chw.shape)),
                           "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[chw.tobytes()]))}
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())


def test_tfrecord_dataset_targets(tmp_path):
    images = np.random.RandomState(0).randint(0, 256, [3, 3, 16, 16]).astype(np.uint8)
    write_tfrecords(str(tmp_path / "ds"), images)
    path = targets.tfrecord_path(str(tmp_path), "ds")
    assert path.endswith("ds-r04.tfrecords")  # the full-resolution level
    loaded = list(targets.tfrecord_images(path, 16, num_images=2))
    assert len(loaded) == 2
    for (t, note), img in zip(loaded, images):
        assert note is None
        np.testing.assert_allclose(t[0], img.transpose(1, 2, 0) / 127.5 - 1, atol=1e-6)
    with pytest.raises(ValueError, match="no \\*.tfrecords files"):
        targets.tfrecord_path(str(tmp_path), "missing")


def run_projector(*args, env=None):
    full_env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    full_env.update(env or {})
    return subprocess.run([sys.executable, os.path.join(REPO, "run_projector.py")] + list(args),
                          capture_output=True, text=True, env=full_env, timeout=600)


def test_cli_projects_a_real_image_and_the_saved_latent_reproduces_the_final_snapshot(tmp_path, vgg16_file):
    rgba = np.random.RandomState(1).randint(0, 256, [21, 35, 4]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "odd.png")
    result_dir = str(tmp_path / "results")
    proc = run_projector("project-real-images", "--network=" + fixture_path("orig"), "--images=" + str(tmp_path),
                         "--num-steps=8", "--num-snapshots=2", "--space=w+", "--save-gif", "--vgg16=" + vgg16_file,
                         "--result-dir=" + result_dir)
    assert proc.returncode == 0, proc.stderr
    assert "35x21 centre-cropped to 21x21, resized from 21x21 to 16x16" in proc.stdout
    assert "dist " in proc.stderr  # the progress bar shows the distance
    run_dir = os.path.join(result_dir, "00000-project-real-images")
    names = ["target.png", "step0004.png", "step0008.png", "grid.png", "projected_w.npz", "projected_w.npy",
             "noise.npz", "optimization.gif"]
    assert sorted(os.listdir(run_dir)) == sorted("image0000-" + n for n in names)

    G = load_fixture_networks("orig").G_ema
    prefix = os.path.join(run_dir, "image0000-")
    with np.load(prefix + "projected_w.npz") as f:
        w = f["w"]
    assert w.shape == (1, G.num_ws, G.w_dim)
    np.testing.assert_array_equal(np.load(prefix + "projected_w.npy"), w[0])
    with np.load(prefix + "noise.npz") as f:
        noise = [f["noise%d" % k] for k in range(G.synthesis.num_noise)]
    rendered = to_uint8_rounded(G.synthesis(w, noise=noise)[0])
    final = np.asarray(Image.open(prefix + "step0008.png"))
    assert np.abs(rendered.astype(int) - final).max() <= 1
    with Image.open(prefix + "grid.png") as grid:
        assert grid.size == (3 * 16, 16)  # target, step 4, step 8
    with Image.open(prefix + "optimization.gif") as gif:
        assert gif.n_frames > 1 and gif.size == (32, 16)  # Pillow merges identical frames


@pytest.mark.parametrize("case", ["num_steps_0", "unreadable_image", "vgg16_offline"])
def test_cli_bad_inputs_give_one_line_errors(tmp_path, case):
    network = "--network=" + fixture_path("orig")
    result_dir = str(tmp_path / "results")
    env = None
    if case == "num_steps_0":
        args = ["project-generated-images", network, "--num_steps=0"]
        message = "--num_steps must be at least 1"
    elif case == "unreadable_image":
        (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
        args = ["project-real-images", network, "--images=" + str(tmp_path / "broken.png")]
        message = "broken.png: not a readable image"
    else:
        # No cached weights and no network (socket guard and proxies), as on an offline machine.
        env, network_log = offline_env(tmp_path, REPO)
        env["KERAS_HOME"] = str(tmp_path / "keras")
        args = ["project-generated-images", network, "--seeds=0", "--vgg16=imagenet"]
        message = "cannot get the ImageNet VGG16 weights"
    proc = run_projector(*(args + ["--result_dir=" + result_dir]), env=env)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.strip().splitlines() if not TF_NATIVE_LOG.match(line)]
    assert len(lines) == 1 and lines[0].startswith("run_projector.py: error: ") and message in lines[0], proc.stderr
    if case == "vgg16_offline":
        assert "pass --vgg16=PATH" in lines[0]
        with open(network_log) as f:  # the download was tried, and the guard stopped it
            assert "blocked network access" in f.read()
    assert not os.path.exists(result_dir)  # nothing written
