"""Compile the custom-op library from `custom_ops/` against the installed TensorFlow.

    python -m tf_stylegan2.ops.build_custom_ops [--force]
    python -m tf_stylegan2.ops.build_custom_ops --cuda-only

Writes `tf_stylegan2/ops/_stylegan2_ops_tf<version>.so` (the TF version is in the name because a
library only loads into the TensorFlow it was compiled against). Compiler flags (C++ standard,
`_GLIBCXX_USE_CXX11_ABI`, include and library paths) come from `tf.sysconfig`, never hard-coded.
The CPU kernels are always built; the CUDA kernels too when `nvcc` is on PATH and TensorFlow is
a CUDA build (otherwise a message says they were skipped).

`--cuda-only` is the CUDA build check for machines without a GPU (`scripts/check_cuda_build.sh`
sets it up): every source is compiled as the CUDA build compiles it (`GOOGLE_CUDA=1`, the `.cu.cc`
kernels with nvcc) against the installed TensorFlow's headers, even a CPU-only TensorFlow, whose
`tensorflow/core` headers are those of the CUDA wheel; the objects are linked into a throw-away
library. It fails on a compile error, on a compiler warning located in `custom_ops/`, and on a
`tf_stylegan2` symbol the library leaves undefined (a missing kernel instantiation). Nothing is
written to the package.

Used by `setup.py` (when TensorFlow is importable at build time), by this command and by the
tests. This module imports TensorFlow only inside functions, so setup.py can load it by path.
"""

import contextlib
import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.normpath(os.path.join(PACKAGE_DIR, os.pardir, os.pardir, "custom_ops"))
CPU_SOURCES = ("upfirdn2d_op.cc", "fused_bias_act_op.cc")
GPU_SOURCES = ("upfirdn2d_op_gpu.cu.cc", "fused_bias_act_op_gpu.cu.cc")
HEADERS = ("upfirdn2d.h", "fused_bias_act.h")
CXX_FLAGS = ["-O3", "-ffp-contract=fast", "-fPIC", "-DNDEBUG", "-Wno-deprecated-declarations", "-Wno-interference-size"]


class BuildError(RuntimeError):
    """The library could not be built (no TensorFlow, no compiler, sources missing or a compile error)."""


def library_path(out_dir=PACKAGE_DIR):
    """Where the library for the installed TensorFlow lives."""
    import tensorflow as tf
    return os.path.join(out_dir, "_stylegan2_ops_tf%s.so" % tf.__version__)


def is_current(path):
    """True when `path` exists and is newer than every source file that is present."""
    if not os.path.exists(path):
        return False
    sources = [os.path.join(SOURCE_DIR, name) for name in CPU_SOURCES + GPU_SOURCES + HEADERS]
    newest = max((os.path.getmtime(s) for s in sources if os.path.exists(s)), default=0.0)
    return os.path.getmtime(path) >= newest


def cuda_status(require_cuda_tensorflow=True):
    """(cuda_home, reason): the CUDA toolkit to build the CUDA kernels with, or None and why not."""
    import tensorflow as tf
    if require_cuda_tensorflow and not tf.test.is_built_with_cuda():
        return None, "TensorFlow %s is not a CUDA build" % tf.__version__
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        return None, "nvcc is not on PATH"
    candidates = [os.environ.get("CUDA_HOME"), os.path.dirname(os.path.dirname(os.path.realpath(nvcc))), "/usr/local/cuda"]
    for home in filter(None, candidates):
        if os.path.exists(os.path.join(home, "include", "cuda_runtime.h")):
            return home, ""
    return None, "CUDA headers not found (set CUDA_HOME)"


def build(out_dir=PACKAGE_DIR, force=False, log=None):
    """Build the library into `out_dir` unless it is already current; return its path.

    Concurrent builds (several test processes) are serialised with a lock on `out_dir`; the library is
    written under a temporary name and renamed, so a reader never sees a partial file.

    Raises:
      BuildError: with the reason and, for a compile error, the compiler's output.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    tf = _import_tensorflow()
    target = library_path(out_dir)
    if not force and is_current(target):
        return target
    cxx = _compiler(CPU_SOURCES + HEADERS)
    os.makedirs(out_dir, exist_ok=True)
    with _directory_lock(out_dir):
        if not force and is_current(target):
            return target
        cuda_home, reason = cuda_status()
        if cuda_home is None:
            log("tf_stylegan2: building the custom ops without CUDA kernels: %s" % reason)
        with tempfile.TemporaryDirectory(prefix="stylegan2_ops_") as tmp:
            _compile_and_link(tf, cxx, cuda_home, tmp, target)
        log("tf_stylegan2: built %s" % target)
    return target


def check_cuda():
    """The CUDA build check (`--cuda-only`, see the module docstring); returns a one-line summary.

    Raises:
      BuildError: no nvcc or CUDA headers, a compile or link error, a warning in `custom_ops/`, or an
        undefined `tf_stylegan2` symbol.
    """
    tf = _import_tensorflow()
    cxx = _compiler(CPU_SOURCES + GPU_SOURCES + HEADERS)
    cuda_home, reason = cuda_status(require_cuda_tensorflow=False)
    if cuda_home is None:
        raise BuildError("no CUDA toolkit: %s" % reason)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="stylegan2_cuda_check_") as tmp:
        library = os.path.join(tmp, "_stylegan2_ops_cuda_check.so")
        outputs = _compile_and_link(tf, cxx, cuda_home, tmp, library)
        warnings = list(dict.fromkeys(line for out in outputs for line in out.splitlines()
                                      if line.startswith(SOURCE_DIR) and "warning" in line))
        undefined = subprocess.run(["nm", "-D", "-C", "--undefined-only", library], check=True,
                                   capture_output=True, text=True).stdout
        missing = [line.split(None, 1)[-1] for line in undefined.splitlines() if "tf_stylegan2::" in line]
    problems = (["compiler warnings in %s:" % SOURCE_DIR] + warnings if warnings else []) + (
        ["the library leaves tf_stylegan2 symbols undefined:"] + missing if missing else [])
    if problems:
        raise BuildError("\n".join(problems))
    nvcc_version = subprocess.run([shutil.which("nvcc"), "--version"], capture_output=True, text=True).stdout
    release = re.search(r"release [0-9.]+, V([0-9.]+)", nvcc_version)
    return ("CUDA build check passed in %.0f s: %d sources (%s with nvcc %s from %s) compiled with GOOGLE_CUDA=1 "
            "against TensorFlow %s's headers and linked, no undefined tf_stylegan2 symbol, no warning in %s"
            % (time.monotonic() - start, len(CPU_SOURCES + GPU_SOURCES), ", ".join(GPU_SOURCES),
               release.group(1) if release else "(unknown version)", cuda_home, tf.__version__, SOURCE_DIR))


def _import_tensorflow():
    try:
        import tensorflow as tf
    except ImportError as e:
        raise BuildError("TensorFlow is not importable (%s)" % e) from e
    return tf


def _compiler(sources):
    """The C++ compiler (CXX, default g++), once `sources` are all present in SOURCE_DIR."""
    missing = [name for name in sources if not os.path.exists(os.path.join(SOURCE_DIR, name))]
    if missing:
        raise BuildError("sources not found in %s: %s" % (SOURCE_DIR, ", ".join(missing)))
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise BuildError("C++ compiler %r not found (set CXX)" % cxx)
    return cxx


@contextlib.contextmanager
def _directory_lock(path):
    """An exclusive flock on the directory itself (no lock file left behind)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _compile_and_link(tf, cxx, cuda_home, tmp, target):
    """Compile the sources into `tmp` and link them to `target`; return the compilers' outputs."""
    from tf_stylegan2.progress import Progress
    tf_cflags = tf.sysconfig.get_compile_flags()
    cuda_defs = ["-DGOOGLE_CUDA=1"] if cuda_home else []
    commands = []
    for name in CPU_SOURCES:
        obj = os.path.join(tmp, name + ".o")
        commands.append([cxx, "-c", os.path.join(SOURCE_DIR, name), "-o", obj] + CXX_FLAGS + cuda_defs + tf_cflags)
    link_extra = []
    if cuda_home:
        nvcc = shutil.which("nvcc")
        cuda_includes = _cuda_include_flags(tf, cuda_home, tmp)
        commands = [c + cuda_includes for c in commands]
        for name in GPU_SOURCES:
            obj = os.path.join(tmp, name + ".o")
            commands.append([nvcc, "-c", "-x", "cu", os.path.join(SOURCE_DIR, name), "-o", obj, "-O3", "-DNDEBUG",
                             "--expt-relaxed-constexpr", "-Xcompiler", "-fPIC"] + cuda_defs + tf_cflags + cuda_includes)
        link_extra = _cudart_link_flags(cuda_home)
    progress = Progress(total=len(commands) + 1, desc="tf_stylegan2: compiling custom ops")
    outputs = []
    # Two compiles at a time: each takes ~0.5 GB and ~20 s of one core (an nvcc compile ~50 s).
    for i in range(0, len(commands), 2):
        outputs += _run_all(commands[i:i + 2])
        progress.update(len(commands[i:i + 2]))
    partial = target + ".%d.tmp" % os.getpid()
    objects = [c[c.index("-o") + 1] for c in commands]
    try:
        _run_all([[cxx, "-shared", "-o", partial] + objects + tf.sysconfig.get_link_flags() + link_extra])
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    progress.update(1)
    progress.close()
    return outputs


def _cudart_link_flags(cuda_home):
    """-L/-l flags for the CUDA runtime: toolkits keep it in lib64 or lib, pip's wheels ship only
    the versioned libcudart.so.N."""
    for sub in ("lib64", "lib"):
        directory = os.path.join(cuda_home, sub)
        if os.path.exists(os.path.join(directory, "libcudart.so")):
            return ["-L" + directory, "-lcudart"]
        versioned = sorted(glob.glob(os.path.join(directory, "libcudart.so.*")))
        if versioned:
            return ["-L" + directory, "-l:" + os.path.basename(versioned[0])]
    raise BuildError("libcudart.so not found in %s/lib64 or %s/lib" % (cuda_home, cuda_home))


def _cuda_include_flags(tf, cuda_home, tmp):
    """-I flags for the CUDA headers. TF's headers include them as
    `third_party/gpus/cuda/include/...`, a path pip wheels may not ship: map it to `cuda_home`."""
    flags = ["-I" + os.path.join(cuda_home, "include")]
    if not os.path.exists(os.path.join(tf.sysconfig.get_include(), "third_party", "gpus", "cuda", "include")):
        shim = os.path.join(tmp, "cuda_shim")
        os.makedirs(os.path.join(shim, "third_party", "gpus", "cuda"))
        os.symlink(os.path.join(cuda_home, "include"), os.path.join(shim, "third_party", "gpus", "cuda", "include"))
        flags.append("-I" + shim)
    return flags


def _run_all(commands):
    """Run the commands in parallel; return their outputs, or raise BuildError with the failures'."""
    procs = [(c, subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)) for c in commands]
    failures, outputs = [], []
    for command, proc in procs:
        output = proc.communicate()[0]
        outputs.append(output)
        if proc.returncode != 0:
            failures.append("%s\n%s" % (" ".join(command), output[-4000:]))
    if failures:
        raise BuildError("compilation failed:\n" + "\n".join(failures))
    return outputs


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["--force"], ["--cuda-only"]):
        print("usage: python -m tf_stylegan2.ops.build_custom_ops [--force | --cuda-only]", file=sys.stderr)
        return 2
    try:
        print(check_cuda() if argv == ["--cuda-only"] else build(force=argv == ["--force"]))
    except BuildError as e:
        print("build_custom_ops: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
