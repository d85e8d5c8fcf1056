"""tf-stylegan2: StyleGAN2 for TensorFlow 2 / Keras 3 with official-pickle import.

Install: `pip install -e ".[cpu]"` (or `.[gpu]` for the CUDA build of TensorFlow).

The custom-op library (custom_ops/) is compiled here when TensorFlow is importable in the build
environment: `pip install --no-build-isolation -e .` with TensorFlow already installed, or
`python setup.py build`. pip's default isolated build has no TensorFlow, so it skips them with a
message; build them afterwards with `python -m tf_stylegan2.ops.build_custom_ops` (the tests do).
"""

import importlib.util
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _load_builder():
    """tf_stylegan2/ops/build_custom_ops.py, loaded by path (the package imports TensorFlow)."""
    path = os.path.join(HERE, "tf_stylegan2", "ops", "build_custom_ops.py")
    spec = importlib.util.spec_from_file_location("tf_stylegan2_build_custom_ops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class BuildPyWithCustomOps(build_py):
    """build_py, then the custom-op library into the package (in place for editable installs)."""

    def run(self):
        super().run()
        builder = _load_builder()
        package_dir = os.path.join("tf_stylegan2", "ops")
        out_dir = os.path.join(HERE if getattr(self, "editable_mode", False) else self.build_lib, package_dir)
        try:
            path = builder.build(out_dir=out_dir, log=print)
        except builder.BuildError as e:
            print("tf-stylegan2: custom ops not built: %s. The reference ops will be used; build them with "
                  "`python -m tf_stylegan2.ops.build_custom_ops` once TensorFlow is installed." % str(e).splitlines()[0])
        else:
            print("tf-stylegan2: custom ops: %s" % path)

setup(
    name="tf-stylegan2",
    version="0.1.0",
    description="StyleGAN2 for TensorFlow 2 / Keras 3 that loads NVIDIA's official network pickles",
    packages=find_packages(include=["tf_stylegan2", "tf_stylegan2.*", "converters", "converters.*"]),
    py_modules=["tf_stylegan2_startup"],  # the apps' start-up, importable before TensorFlow
    package_data={"tf_stylegan2": ["pretrained/*.pkl"]},  # the default network (sources.DEFAULT_NETWORK)
    python_requires=">=3.9",
    cmdclass={"build_py": BuildPyWithCustomOps},
    install_requires=["numpy", "pillow", "h5py", "absl-py"],
    extras_require={
        "cpu": ["tensorflow-cpu==2.21.0"],
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        "demo": ["gradio>=6"],  # run_demo.py's web page
        # the demo's tests (tests/test_demo.py) run in CI: its page, HTTP client and browser driver
        "test": ["pytest", "scipy", "gradio>=6", "gradio_client", "selenium"],
    },
    entry_points={
        "console_scripts": [
            "tf-stylegan2-generate=tf_stylegan2_startup:generate",
            "tf-stylegan2-project=tf_stylegan2_startup:project",
            "tf-stylegan2-convert=tf_stylegan2_startup:convert",
            "tf-stylegan2-dataset=tf_stylegan2_startup:dataset",
            "tf-stylegan2-train=tf_stylegan2_startup:train",
            "tf-stylegan2-metrics=tf_stylegan2_startup:metrics",
            "tf-stylegan2-selfcheck=tf_stylegan2.selfcheck:main",
            "tf-stylegan2-demo=tf_stylegan2_startup:demo",
            "tf-stylegan2-encode=tf_stylegan2_startup:encode",
            "tf-stylegan2-train-encoder=tf_stylegan2_startup:train_encoder",
        ],
    },
)
