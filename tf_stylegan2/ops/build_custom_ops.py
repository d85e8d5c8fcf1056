"""Compile the custom-op library from `custom_ops/` against the installed TensorFlow.

    python -m tf_stylegan2.ops.build_custom_ops [--force]

Writes `tf_stylegan2/ops/_stylegan2_ops_tf<version>.so` (the TF version is in the name because a
library only loads into the TensorFlow it was compiled against). Compiler flags (C++ standard,
`_GLIBCXX_USE_CXX11_ABI`, include and library paths) come from `tf.sysconfig`, never hard-coded.
The CPU kernels are always built; the CUDA kernels too when `nvcc` is on PATH and TensorFlow is
a CUDA build (otherwise a message says they were skipped).

Used by `setup.py` (when TensorFlow is importable at build time), by this command and by the
tests. This module imports TensorFlow only inside functions, so setup.py can load it by path.
"""

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import tempfile

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


def cuda_status():
    """(cuda_home, reason): the CUDA toolkit to build the CUDA kernels with, or None and why not."""
    import tensorflow as tf
    if not tf.test.is_built_with_cuda():
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
    try:
        import tensorflow as tf
    except ImportError as e:
        raise BuildError("TensorFlow is not importable (%s)" % e) from e
    target = library_path(out_dir)
    if not force and is_current(target):
        return target
    missing = [name for name in CPU_SOURCES + HEADERS if not os.path.exists(os.path.join(SOURCE_DIR, name))]
    if missing:
        raise BuildError("sources not found in %s: %s" % (SOURCE_DIR, ", ".join(missing)))
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise BuildError("C++ compiler %r not found (set CXX)" % cxx)
    os.makedirs(out_dir, exist_ok=True)
    with _directory_lock(out_dir):
        if not force and is_current(target):
            return target
        cuda_home, reason = cuda_status()
        if cuda_home is None:
            log("tf_stylegan2: building the custom ops without CUDA kernels: %s" % reason)
        with tempfile.TemporaryDirectory(prefix="stylegan2_ops_") as tmp:
            _compile_and_link(tf, cxx, cuda_home, tmp, target, log)
    return target


@contextlib.contextmanager
def _directory_lock(path):
    """An exclusive flock on the directory itself (no lock file left behind)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _compile_and_link(tf, cxx, cuda_home, tmp, target, log):
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
        link_extra = ["-L" + os.path.join(cuda_home, "lib64"), "-lcudart"]
    progress = Progress(total=len(commands) + 1, desc="tf_stylegan2: compiling custom ops")
    # Two compiles at a time: each takes ~0.5 GB and ~20 s of one core.
    for i in range(0, len(commands), 2):
        _run_all(commands[i:i + 2])
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
    log("tf_stylegan2: built %s" % target)


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
    procs = [(c, subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)) for c in commands]
    failures = []
    for command, proc in procs:
        output = proc.communicate()[0]
        if proc.returncode != 0:
            failures.append("%s\n%s" % (" ".join(command), output[-4000:]))
    if failures:
        raise BuildError("compilation failed:\n" + "\n".join(failures))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if any(a not in ("--force",) for a in argv):
        print("usage: python -m tf_stylegan2.ops.build_custom_ops [--force]", file=sys.stderr)
        return 2
    try:
        path = build(force="--force" in argv)
    except BuildError as e:
        print("build_custom_ops: error: %s" % e, file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
