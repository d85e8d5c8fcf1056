"""What `python -m tf_stylegan2.selfcheck --bench` and `benchmarks/bench_{generator,training}.py` measure
with: randomly initialised networks of named presets, the real training phases of one minibatch,
wall times and peak memory.

Presets (`PRESETS`, name -> (resolution, default batch, `options.training_options` args, G_kwargs
overrides)): "config-f-256" and "config-f-1024" are StyleGAN2 config F (ADA's `--cfg=stylegan2`,
the same networks as NVIDIA's config-f pickles), "small-64" a 64 px network whose speed is set by
per-op overhead, "tiny-8" an 8 px network for tests (`selfcheck --quick --bench`). Training runs
on one fixed batch of random reals (data loading is not timed), no augmentation, gamma 1.

Peak memory (`PeakMemory`): on a CPU the process's peak resident set (VmHWM, which includes the
framework, about 1 GB), on a GPU the TensorFlow allocator's peak on that device.
"""

import time
import types

import keras
import tensorflow as tf

from tf_stylegan2.networks import Generator
from tf_stylegan2.training import loop, options
from tf_stylegan2.training.schedule import Schedule
from tf_stylegan2.training.trainer import Trainer

# name: (resolution, batch, training_options args, G_kwargs overrides)
PRESETS = {
    "config-f-256": (256, 4, dict(cfg="stylegan2"), {}),
    "config-f-1024": (1024, 1, dict(cfg="stylegan2"), {}),
    "small-64": (64, 8, dict(cfg="auto", cbase=64 * 48 * 2, cmax=48, map=4),
                 dict(mapping=dict(z_dim=256, w_dim=256, layer_features=128), synthesis=dict(w_dim=256))),
    "tiny-8": (8, 4, dict(cfg="auto", cbase=256, cmax=32, map=1), {}),
}
CYCLE = 16  # minibatches in one lazy-regularisation cycle (D reg every 16th)
PHASES = ("Gmain", "Greg", "Dmain", "Dreg", "ema")


def dataset_facts(resolution):
    """The facts of an unlabelled RGB dataset at `resolution` that `options.training_options` reads."""
    return types.SimpleNamespace(name="bench", resolution=resolution, num_channels=3, label_dim=0, num_images=1)


def preset_options(preset, batch=None, seed=0, precision="auto", recompute="off", mem_budget=None):
    """The training options of `preset` at `batch` (default: the preset's), as `run_training.py` would
    make them (`precision`, `recompute`, `mem_budget` as its flags; no augmentation, gamma 1)."""
    resolution, default_batch, args, overrides = PRESETS[preset]
    opts = options.training_options(dict(args, data="none", batch=batch or default_batch, gamma=1.0, aug="noaug",
                                         metrics=[], seed=seed, precision=precision, recompute=recompute,
                                         mem_budget=mem_budget), dataset_facts(resolution))
    for part, values in overrides.items():
        opts["G_kwargs"][part].update(values)
    return opts


def random_generator(preset, seed=0):
    """A randomly initialised float32 `Generator` of `preset` (no conv clamp: the precision is chosen
    per call, `G(z, precision=...)`)."""
    opts = preset_options(preset, seed=seed, precision="fp32")
    keras.utils.set_random_seed(seed)
    return Generator.from_config(dict(opts["G_kwargs"], name="G_ema"))


def build_trainer(preset, batch=None, seed=0, **kwargs):
    """(`Trainer` over random networks of `preset`, its options, random reals float32 `[batch, R, R, 3]`
    in [-1, 1]); `kwargs` as `preset_options`."""
    opts = preset_options(preset, batch, seed, **kwargs)
    keras.utils.set_random_seed(seed)
    G, D, G_ema = loop.build_networks(opts)
    trainer = Trainer(G, D, G_ema, opts, seed=seed)
    resolution = opts["G_kwargs"]["synthesis"]["img_resolution"]
    reals = tf.random.uniform([opts["batch_size"], resolution, resolution, 3], -1, 1, seed=seed)
    return trainer, opts, reals


def phase_calls(trainer, reals):
    """`{phase: callable}`, each blocking until its statistics are on the host (as the loop does; the
    G_ema update until the device is idle)."""
    beta = tf.constant(0.999)

    def fetch(stats):
        return {key: value.numpy() for key, value in stats.items()}

    return dict(Gmain=lambda: fetch(trainer.g_main()), Greg=lambda: fetch(trainer.g_reg()),
                Dmain=lambda: fetch(trainer.d_main(reals, None)), Dreg=lambda: fetch(trainer.d_reg(reals, None)),
                ema=lambda: (trainer.update_ema(beta), tf.test.experimental.sync_devices()))


def cycle_schedule(trainer, opts):
    """The phases of one 16-minibatch cycle in the loop's order: `Schedule.phases_due` of each
    minibatch, then the G_ema update."""
    schedule, out = Schedule(trainer, opts), []
    for i in range(CYCLE):
        schedule.batch_idx = i
        out += schedule.phases_due() + ["ema"]
    return out


def reset_peak_rss():
    """Restart the kernel's peak-RSS counter (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb():
    """Peak RSS in MiB since the last `reset_peak_rss` (VmHWM), or of the whole process."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak memory in MiB of `device` ("CPU:0", "GPU:0", ...) since the last `reset()`: the process's
    peak RSS for a CPU, the TensorFlow allocator's peak (`get_memory_info(device)["peak"]`) for a GPU."""

    def __init__(self, device):
        self.device = device
        self.gpu = device.upper().startswith("GPU")
        self.kind = "GPU allocator peak" if self.gpu else "peak RSS"

    def reset(self):
        if self.gpu:
            tf.config.experimental.reset_memory_stats(self.device)
        else:
            reset_peak_rss()

    def peak_mb(self):
        if self.gpu:
            return tf.config.experimental.get_memory_info(self.device)["peak"] / 2 ** 20
        return peak_rss_mb()


def time_calls(fn, repeats=3, min_seconds=2.0):
    """`fn` called once untimed (tracing), then timed up to `repeats` times, stopping early once the
    timed calls took `min_seconds` together (slow calls are timed once): (first call s, best call s,
    timed calls)."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    best, spent, calls = float("inf"), 0.0, 0
    while calls < repeats and (calls == 0 or spent < min_seconds):
        start = time.perf_counter()
        fn()
        seconds = time.perf_counter() - start
        best, spent, calls = min(best, seconds), spent + seconds, calls + 1
    return first, best, calls
