"""Repository rule `local_tensorflow`: the headers and framework library of the TensorFlow that
`python3` (or $PYTHON_BIN_PATH) imports, with the compile defines from `tf.sysconfig`
(`_GLIBCXX_USE_CXX11_ABI`, `EIGEN_MAX_ALIGN_BYTES`), so nothing is hard-coded."""

_QUERY = "; ".join([
    "import tensorflow as tf",
    "print(tf.sysconfig.get_include())",
    "print(tf.sysconfig.get_lib())",
    "print(' '.join(tf.sysconfig.get_compile_flags()))",
])

def _local_tensorflow_impl(repository_ctx):
    python = repository_ctx.os.environ.get("PYTHON_BIN_PATH", "python3")
    result = repository_ctx.execute([python, "-c", _QUERY])
    if result.return_code != 0:
        fail("TensorFlow is not importable with %s:\n%s" % (python, result.stderr))
    include, lib, cflags = result.stdout.strip().split("\n")[-3:]
    repository_ctx.symlink(include, "include")
    repository_ctx.symlink(lib + "/libtensorflow_framework.so.2", "libtensorflow_framework.so.2")
    defines = [flag[2:] for flag in cflags.split(" ") if flag.startswith("-D")]
    repository_ctx.file("BUILD", """
cc_library(
    name = "headers",
    hdrs = glob(["include/**/*.h", "include/**/*.inc", "include/Eigen/**", "include/unsupported/Eigen/**"]),
    includes = ["include"],
    defines = {defines},
    visibility = ["//visibility:public"],
)

cc_library(
    name = "framework",
    srcs = ["libtensorflow_framework.so.2"],
    visibility = ["//visibility:public"],
)
""".format(defines = repr(defines)))

local_tensorflow = repository_rule(
    implementation = _local_tensorflow_impl,
    environ = ["PYTHON_BIN_PATH"],
    local = True,
)
