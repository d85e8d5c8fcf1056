#!/usr/bin/env bash
# CUDA build check without a GPU: compiles every custom-op source as the CUDA build does (the
# .cu.cc kernels with nvcc, GOOGLE_CUDA=1) against the installed TensorFlow's headers and links them.
#
#   scripts/check_cuda_build.sh [DIR]
#
# NVIDIA's compiler comes from the package registry into a throw-away virtual environment (DIR,
# default a new folder under /tmp, removed afterwards unless DIR was given). The project's own
# Python (PYTHON, default python3: the environment with TensorFlow and tf_stylegan2) runs
# `python -m tf_stylegan2.ops.build_custom_ops --cuda-only` with that compiler first on PATH.
# Needs a C++ compiler (CXX, default g++) and about 330 MB in DIR.
#
# The toolkit is CUDA 13.0 because that is the only nvcc in the registry: nvidia-cuda-nvcc-cu12
# (12.5 to 12.9) ships ptxas but no nvcc driver. TensorFlow 2.21's CUDA wheel is built with CUDA
# 12.5; its tensorflow/core headers are the same as tensorflow-cpu's, so the CPU wheel's suffice.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
CUDA_PACKAGES=(nvidia-cuda-nvcc==13.0.88 nvidia-cuda-crt==13.0.88 nvidia-nvvm==13.0.88
               nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85)
if [ $# -gt 1 ]; then
    echo "usage: scripts/check_cuda_build.sh [DIR]" >&2
    exit 2
fi
if [ $# -eq 1 ]; then
    venv="$1"
else
    venv="$(mktemp -d /tmp/stylegan2_cuda_venv.XXXXXX)"
    trap 'rm -rf "$venv"' EXIT
fi
start=$SECONDS
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check "${CUDA_PACKAGES[@]}"
cuda_home="$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')"
echo "check_cuda_build: CUDA toolkit in $cuda_home ($((SECONDS - start)) s to install)" >&2
PATH="$cuda_home/bin:$PATH" CUDA_HOME="$cuda_home" "$PYTHON" -m tf_stylegan2.ops.build_custom_ops --cuda-only
echo "check_cuda_build: done in $((SECONDS - start)) s" >&2
