"""Training on several devices and hosts with `tf.distribute` (issue 12), with StyleGAN2-ADA's
semantics: the global batch is split over the replicas (each replica draws its own latents, noise
and augmentations), a replica whose share is larger than `batch_gpu` accumulates gradients over
rounds of `batch_gpu` images, gradients and statistics are reduced across replicas, and only the
chief writes files.

Strategies (`make_strategy`):
  - `MultiWorkerMirroredStrategy` when `TF_CONFIG` names a cluster of two or more tasks (each worker
    trains on its local GPUs, or its CPU). It must be created before TensorFlow runs anything in the
    process, which `make_strategy` does when called first.
  - `MirroredStrategy` over the first N GPUs for `--gpus=N` (N > 1); on a machine without GPUs over N
    logical CPU devices, which exist only after `use_cpu_devices(N)` (tests and benchmarks).
  - the default strategy otherwise.
"""

import json
import os

import tensorflow as tf


class DistributeError(ValueError):
    """A device or cluster request this machine cannot serve (one-line message)."""


def use_cpu_devices(n):
    """Split the physical CPU into `n` logical devices (`/cpu:0` ... `/cpu:n-1`) so `MirroredStrategy`
    can run `n` replicas without GPUs. Call before TensorFlow initialises its runtime."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * int(n))
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) != int(n):
            raise DistributeError("cannot split the CPU into %d devices: TensorFlow is already initialised" % n)


def tf_config(environ=None):
    """The parsed `TF_CONFIG` environment variable (`{}` when unset)."""
    text = (environ if environ is not None else os.environ).get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except ValueError as e:
        raise DistributeError("TF_CONFIG is not valid JSON: %s" % e) from None
    if not isinstance(config, dict):
        raise DistributeError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return config


def _tasks(config):
    """Training tasks of a cluster in rank order: the chief (if any) first, then the workers."""
    cluster = config.get("cluster") or {}
    return [("chief", i) for i in range(len(cluster.get("chief", [])))] + \
           [("worker", i) for i in range(len(cluster.get("worker", [])))]


def is_multi_worker(config=None):
    """True when TF_CONFIG names a cluster of two or more training tasks."""
    return len(_tasks(tf_config() if config is None else config)) > 1


def worker_rank(config=None):
    """`(rank, number of tasks)` of this process: (0, 1) without a cluster."""
    config = tf_config() if config is None else config
    tasks = _tasks(config)
    if len(tasks) <= 1:
        return 0, 1
    task = config.get("task") or {}
    key = (task.get("type"), int(task.get("index", 0)))
    if key not in tasks:
        raise DistributeError("TF_CONFIG task %s:%d is not a training task of its cluster" % key)
    return tasks.index(key), len(tasks)


def is_chief(config=None):
    """The process that writes the run directory: the chief task, worker 0 in a cluster without
    a chief, or the only process."""
    return worker_rank(config)[0] == 0


def make_strategy(num_devices=None):
    """The strategy for `--gpus=num_devices` (None: 1) and `TF_CONFIG` (see the module docstring).

    Raises:
      DistributeError: more devices asked for than the machine has.
    """
    n = int(num_devices or 1)
    if n < 1:
        raise DistributeError("--gpus must be >= 1, got %d" % n)
    if is_multi_worker():
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        local = len(strategy.extended.worker_devices)
        if num_devices is not None and n not in (local, strategy.num_replicas_in_sync):
            raise DistributeError("--gpus=%d, but each TF_CONFIG worker trains on its %d local device(s) (%d replicas "
                                  "in all)" % (n, local, strategy.num_replicas_in_sync))
        return strategy
    if n == 1:
        return tf.distribute.get_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) >= n:
        return tf.distribute.MirroredStrategy([d.name for d in gpus[:n]])
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) >= n:
        return tf.distribute.MirroredStrategy([d.name for d in cpus[:n]],
                                              cross_device_ops=tf.distribute.ReductionToOneDevice())
    raise DistributeError("--gpus=%d, but this machine has %d GPU(s)" % (n, len(gpus)))


def num_local_replicas(strategy=None):
    """Replicas of this worker (its devices in the strategy)."""
    strategy = strategy or tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return 1
    return len(strategy.extended.worker_devices)


def worker_batch(batch_size, strategy=None):
    """Images this worker reads per minibatch: the global batch over the workers."""
    strategy = strategy or tf.distribute.get_strategy()
    workers = strategy.num_replicas_in_sync // num_local_replicas(strategy)
    return batch_size // workers


def worker_seed(seed):
    """ADA's per-process seed `seed * num_processes + rank` (the seed itself on one process)."""
    rank, count = worker_rank()
    return int(seed) * count + rank


def accumulation_rounds(batch_size, batch_gpu, num_replicas):
    """Rounds of `batch_gpu` images each replica runs per minibatch (gradient accumulation).

    Raises:
      DistributeError: a batch that does not split evenly.
    """
    if batch_size % num_replicas or (batch_size // num_replicas) % batch_gpu:
        raise DistributeError("the batch of %d does not split into %d replica(s) of rounds of %d (--batch-gpu)"
                              % (batch_size, num_replicas, batch_gpu))
    return batch_size // num_replicas // batch_gpu


def distribute_batch(value, strategy=None):
    """A worker's batch `[worker_batch, ...]` -> its local replicas' equal slices (per-replica
    values for `strategy.run`); unchanged under one replica, None stays None."""
    strategy = strategy or tf.distribute.get_strategy()
    if value is None or strategy.num_replicas_in_sync == 1:
        return value
    local = num_local_replicas(strategy)
    value = tf.convert_to_tensor(value)
    n = value.shape[0] // local

    def slice_for(ctx):
        i = ctx.replica_id_in_sync_group % local
        return value[i * n:(i + 1) * n]

    return strategy.experimental_distribute_values_from_function(slice_for)


def replica_mean(value):
    """Mean of `value` over all replicas (called in a replica context; differentiable)."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return value
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, value)


def reduce(op, per_replica):
    """Reduce a nested structure of per-replica values (gradient lists with None entries, statistic
    dicts) across replicas -> the same structure of plain tensors (cross-replica context).

    One batched all-reduce in a replica context (as `MultiWorkerMirroredStrategy` needs: its
    `strategy.reduce` takes single tensors only)."""
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return strategy.reduce(op, per_replica, axis=None)
    flat = tf.nest.flatten(per_replica)
    live = [v for v in flat if v is not None]
    reduced = strategy.run(lambda *values: tf.distribute.get_replica_context().all_reduce(op, list(values)),
                           args=tuple(live))
    reduced = iter(strategy.experimental_local_results(v)[0] for v in reduced)
    return tf.nest.pack_sequence_as(per_replica, [None if v is None else next(reduced) for v in flat])


def run(replica_fn, args=(), rounds=1, jit_compile=False):
    """`strategy.run(replica_fn, args)`, each replica accumulating `rounds` calls of `replica_fn` on
    successive equal slices (axis 0) of its `args`.

    `replica_fn` returns a tuple; its dict elements (statistics) are summed over the rounds, every
    other element (gradient lists, means) is averaged; None gradients stay None. Rounds run one
    after another (control dependencies), so memory stays that of one round. `jit_compile`: each
    replica's part (all its rounds) is one XLA computation; the cross-replica reductions stay outside.
    """
    strategy = tf.distribute.get_strategy()
    fn = replica_fn if rounds == 1 else (lambda *a: _accumulate(replica_fn, a, rounds))
    if jit_compile:
        fn = tf.function(fn, jit_compile=True)
    return strategy.run(fn, args=args)


def _slice_round(value, i, rounds):
    if value is None:
        return None
    n = value.shape[0] // rounds
    return value[i * n:(i + 1) * n]


def _accumulate(replica_fn, args, rounds):
    first = replica_fn(*[_slice_round(a, 0, rounds) for a in args])
    leaves, summed = [], []
    for part in first:
        flat = tf.nest.flatten(part)
        leaves += flat
        summed += [isinstance(part, dict)] * len(flat)
    live = [j for j, leaf in enumerate(leaves) if leaf is not None]
    totals = {j: leaves[j] for j in live}
    for i in range(1, rounds):
        with tf.control_dependencies([totals[j] for j in live]):
            out = [leaf for part in replica_fn(*[_slice_round(a, i, rounds) for a in args])
                   for leaf in tf.nest.flatten(part)]
        totals = {j: totals[j] + out[j] for j in live}
    for j in live:
        leaves[j] = totals[j] if summed[j] else totals[j] / rounds
    out, k = [], 0
    for part in first:
        n = len(tf.nest.flatten(part))
        out.append(tf.nest.pack_sequence_as(part, leaves[k:k + n]))
        k += n
    return tuple(out)
