"""Where one training phase's time goes, by TensorFlow op: one traced call of the phase of
`bench_training.py` (same presets, networks and reals) run under TensorFlow's profiler, its kernel
times summed per op type and per op.

    python benchmarks/profile_phase_ops.py --preset=config-f-256 --phase=Dmain [--top=30]

Op times are summed over the threads that ran them (inter-op parallelism runs several at once), so
they add up to more than the call's wall time; compare shares, not sums, with the wall time.
The executor's own scopes (`ExecutorState::Process`, the function call) are left out.
"""

import collections
import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_training  # noqa: E402  (imports tf_stylegan2 first, defines the shared flags)
from absl import app, flags  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: E402

from tf_stylegan2.apps import cli  # noqa: E402

flags.DEFINE_enum("phase", "Dmain", list(bench_training.PHASES), "the phase to profile")
flags.DEFINE_integer("top", 30, "single ops listed")
FLAGS = flags.FLAGS
WRAPPERS = ("Process", "Run")  # executor scopes around the kernels


def op_times(logdir):
    """`(by op type, by op name, calls by op type)` in seconds from the profile under `logdir`."""
    by_type, by_name, calls = collections.Counter(), collections.Counter(), collections.Counter()
    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            for line in plane.lines:
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if ":" not in name or name.startswith("$"):
                        continue
                    op, op_type = name.rsplit(":", 1)
                    if op_type.strip() in WRAPPERS or op_type.startswith(" __inference"):
                        continue
                    by_type[op_type] += event.duration_ps / 1e12
                    by_name[name] += event.duration_ps / 1e12
                    calls[op_type] += 1
    return by_type, by_name, calls


def main(argv):
    del argv
    if FLAGS.preset is None:
        print("profile_phase_ops: error: give --preset (%s)" % ", ".join(sorted(bench_training.PRESETS)),
              file=sys.stderr)
        sys.exit(1)
    trainer, _, reals = bench_training.build_trainer(FLAGS.preset, FLAGS.batch)
    call = bench_training.phase_calls(trainer, reals)[FLAGS.phase]
    call()  # tracing
    logdir = tempfile.mkdtemp(prefix="profile_phase_ops_")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    call()
    wall = time.perf_counter() - start
    tf.profiler.experimental.stop()
    by_type, by_name, calls = op_times(logdir)
    total = sum(by_type.values())
    print("%s %s: %.2f s wall (profiled call); kernel time summed over threads %.2f s" % (
        FLAGS.preset, FLAGS.phase, wall, total))
    print("%-36s %6s %10s %7s" % ("op type", "calls", "time [s]", "share"))
    for op_type, seconds in by_type.most_common():
        print("%-36s %6d %10.3f %6.1f%%" % (op_type, calls[op_type], seconds, 100 * seconds / total))
    print("\n%-100s %10s" % ("op", "time [s]"))
    for name, seconds in by_name.most_common(FLAGS.top):
        print("%-100s %10.3f" % (name[-100:], seconds))


if __name__ == "__main__":
    app.run(main, flags_parser=lambda argv: FLAGS(cli.normalize_flag_spellings(argv)))
