"""tf-stylegan2: StyleGAN2 for TensorFlow 2 / Keras 3 with official-pickle import.

Install: `pip install -e ".[cpu]"` (or `.[gpu]` for the CUDA build of TensorFlow).
"""

from setuptools import find_packages, setup

setup(
    name="tf-stylegan2",
    version="0.1.0",
    description="StyleGAN2 for TensorFlow 2 / Keras 3 that loads NVIDIA's official network pickles",
    packages=find_packages(include=["tf_stylegan2", "tf_stylegan2.*", "converters", "converters.*"]),
    python_requires=">=3.9",
    install_requires=["numpy", "pillow", "h5py", "absl-py"],
    extras_require={
        "cpu": ["tensorflow-cpu==2.21.0"],
        "gpu": ["tensorflow[and-cuda]==2.21.0"],
        "test": ["pytest"],
    },
    entry_points={
        "console_scripts": [
            "tf-stylegan2-generate=tf_stylegan2.apps.run_generator:main",
            "tf-stylegan2-project=tf_stylegan2.apps.run_projector:main",
            "tf-stylegan2-convert=converters.convert_pkl:main",
        ],
    },
)
