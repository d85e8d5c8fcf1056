"""The four StyleGAN2 training phases (G main, G reg, D main, D reg) and the G_ema update, each one
compiled `tf.function` reused every step (spec §10, §12.2).

Every phase runs its per-replica part with `tf.distribute.get_strategy().run`, reduces gradients
(mean) and statistics (sum) across replicas, and updates variables in the cross-replica context,
so the same code serves the default strategy and `MirroredStrategy`.

Mixed precision (StyleGAN2-ADA's `num_fp16_res`): G's synthesis and D compute their 4 highest
resolutions in float16 or bfloat16 (`options.compute_precision`); variables, gradients, Adam
state and G_ema stay float32, and Adam sanitises the gradients as ADA does (no loss scaling: the
clamp at 256 keeps float16 activations finite). With `xla`, each phase's per-replica part is
compiled by XLA (`jit_compile`; the custom ops give way to the reference ops there).
"""

import numpy as np
import tensorflow as tf

from tf_stylegan2.networks import recompute
from tf_stylegan2.training import distribute, losses
from tf_stylegan2.training import options as options_lib
from tf_stylegan2.training.adam import Adam, lerp
from tf_stylegan2.training.draws import GeneratorDraws

STAT_KEYS = ("Loss/scores/fake", "Loss/signs/fake", "Loss/G/loss", "Loss/pl_penalty", "Loss/G/reg",
             "Loss/scores/real", "Loss/signs/real", "Loss/D/loss", "Loss/r1_penalty", "Loss/D/reg")
D_LAYER_KEYS = ("fromrgb", "conv0", "conv1", "skip")


def stat(values):
    """Per-sample values `[N]` -> `[sum, sum of squares, count]` (float32 `[3]`), summable over replicas."""
    values = tf.reshape(tf.cast(values, tf.float32), [-1])
    return tf.stack([tf.reduce_sum(values), tf.reduce_sum(tf.square(values)), tf.cast(tf.size(values), tf.float32)])


def frozen_d_layers(D, freezed):
    """ADA's Freeze-D: the first `freezed` D layers in construction order, from the highest-resolution
    block (`fromrgb`, `conv0`, `conv1`, `skip` per block); the 4x4 epilogue and label layers never."""
    layers = [block[key] for block in D.blocks for key in D_LAYER_KEYS if key in block]
    return layers[:freezed]


class _RecordingD:
    """`D(augment(img), c)` in `precision` that remembers its logits per input tensor (for the score
    statistics); the augmentations draw from `rng`."""

    def __init__(self, D, augment, rng, precision):
        self.D, self.augment, self.rng, self.precision, self.logits = D, augment, rng, precision, {}

    def __call__(self, img, c=None):
        logits = self.D(self.augment(img, self.rng) if self.augment is not None else img, c, precision=self.precision)
        self.logits[img.ref()] = logits[:, 0]
        return logits


class Trainer:
    """Networks, optimisers and the compiled phases of one training run.

    Args:
      G, D, G_ema: `Generator`, `Discriminator`, `Generator` (same config as G).
      options: the training options dict (`loss_kwargs`, `G_opt_kwargs`, `D_opt_kwargs`, `batch_gpu`, `freezed`,
        `num_fp16_res` and `precision`, `xla`).
      labels: float32 `[num_images, label_dim]` to draw the fakes' labels from, or None (unconditional).
        ADA presets draw the fakes' labels of every phase from it (D main too, independently of the
        reals'); the TF1 configs (`options["tf1"]`) give D main's fakes the reals' labels, as
        TF1's `D_logistic_r1` does.
      augment_pipe: an `augment.AugmentPipe` or None.
      seed: seed of the training RNG (`tf.random.Generator`): latents, labels, noise, style mixing,
        path-length projections and augmentations all draw from it, so a restored RNG state continues
        the exact random sequence.
      draws: where the phases' draws come from (`draws.GeneratorDraws` over the training RNG when
        None; `draws.RecordedDraws` replays a recording, with one round on one replica).
    Each phase returns `{stat key: float32 [3]}` (see `stat`), summed over replicas.
    Running averages (`w_avg`, `pl_mean`, G_ema) and Adam follow torch's arithmetic (`adam.lerp`).
    Attributes: `precision`, the dtype name of the reduced-precision blocks ("fp32" without mixed
    precision), `xla`.
    """

    def __init__(self, G, D, G_ema, options, labels=None, augment_pipe=None, seed=0, draws=None):
        self.G, self.D, self.G_ema = G, D, G_ema
        self.loss_kwargs = dict(options["loss_kwargs"])
        self.batch = int(options["batch_gpu"])
        self.rounds = distribute.accumulation_rounds(int(options.get("batch_size", self.batch)), self.batch,
                                                     tf.distribute.get_strategy().num_replicas_in_sync)
        self.augment_pipe = augment_pipe
        self.precision = options_lib.compute_precision(options)
        self.xla = bool(options.get("xla"))
        # The blocks whose activations are recomputed in the backward pass ({"G": resolutions, "D": ...}).
        self.recompute = recompute.configure(
            G.synthesis, D, options.get("recompute", "off"), options.get("mem_budget"), self.batch,
            fixed_bytes=4 * sum(int(np.prod(v.shape)) for v in 3 * G.weights + 3 * D.weights + G_ema.weights))
        self.labels = None if labels is None or G.c_dim == 0 else tf.constant(labels, tf.float32)
        self.fakes_take_real_labels = bool(options.get("tf1"))
        frozen = {id(v) for layer in frozen_d_layers(D, int(options.get("freezed") or 0)) for v in layer.weights}
        self.G_vars = list(G.trainable_weights)
        self.D_vars = [v for v in D.trainable_weights if id(v) not in frozen]
        self.opt_G = Adam(self.G_vars, name="opt_G", **options["G_opt_kwargs"])
        self.opt_D = Adam(self.D_vars, name="opt_D", **options["D_opt_kwargs"])
        self.pl_mean = tf.Variable(0.0, trainable=False, name="pl_mean")
        self.rng = tf.random.Generator.from_seed(int(seed))
        self.draws = draws if draws is not None else GeneratorDraws(self.rng)
        self.noise_sizes = [G.synthesis.noise_resolution(i) for i in range(G.synthesis.num_noise)]
        self._check_ema_pairs()
        self.g_main = tf.function(self._g_main)
        self.g_reg = tf.function(self._g_reg)
        self.d_main = tf.function(self._d_main)
        self.d_reg = tf.function(self._d_reg)
        self.update_ema = tf.function(self._update_ema)

    def phase_functions(self):
        """`{name: tf.function}` of the compiled functions (their trace counts are tested)."""
        return dict(g_main=self.g_main, g_reg=self.g_reg, d_main=self.d_main, d_reg=self.d_reg,
                    update_ema=self.update_ema)

    def state_variables(self):
        """`{group: {name: variable}}`: everything a checkpoint restores, named by Keras variable
        path (networks), `iterations` / `m/<path>` / `v/<path>` (optimisers), and `pl_mean`,
        `rng/state`, `augment/p`."""
        out = dict(opt_G=self.opt_G.slots(), opt_D=self.opt_D.slots(), pl_mean={"pl_mean": self.pl_mean},
                   rng={"state": self.rng.state},
                   augment={"p": self.augment_pipe.p} if self.augment_pipe is not None else {})
        for group, net in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            out[group] = {v.path: v for v in net.weights}
            if len(out[group]) != len(net.weights):
                raise ValueError("%s has variables with the same path" % group)
        return out

    def _check_ema_pairs(self):
        for a, b in zip(self.G.weights, self.G_ema.weights):
            if tuple(a.shape) != tuple(b.shape):
                raise ValueError("G and G_ema differ: %s %s vs %s" % (a.path, a.shape, b.shape))
        if len(self.G.weights) != len(self.G_ema.weights):
            raise ValueError("G and G_ema differ in their number of variables")

    # --- sampling -------------------------------------------------------------------------------

    def _labels(self, n, phase):
        if self.labels is None:
            return None
        return tf.gather(self.labels, self.draws.integer(phase, "c_idx", [n], 0, self.labels.shape[0]))

    def _noise(self, n, phase):
        """Per-sample random noise for every conv layer: `[n, size, size, 1]` each."""
        return [self.draws.normal(phase, "noise%d" % i, [n, size, size, 1]) for i, size in enumerate(self.noise_sizes)]

    def _mapping(self, z, c, phase):
        """ws `[n, num_ws, w_dim]` with style mixing (probability `style_mixing_prob`, one cutoff per
        batch as ADA), and the batch mean of w for the `w_avg` update."""
        G = self.G
        ws = G.mapping(z, c)
        w_mean = tf.reduce_mean(ws[:, 0], axis=0)
        prob = self.loss_kwargs["style_mixing_prob"]
        if prob > 0:
            cutoff = self.draws.integer(phase, "mix_cutoff", [], 1, G.num_ws)
            cutoff = tf.where(self.draws.uniform(phase, "mix_prob") < prob, cutoff, G.num_ws)
            ws2 = G.mapping(self.draws.normal(phase, "mix_z", z.shape), c)
            ws = tf.where(tf.range(G.num_ws)[tf.newaxis, :, tf.newaxis] < cutoff, ws, ws2)
        return ws, w_mean

    def _generate(self, n, c, phase):
        z = self.draws.normal(phase, "z", [n, self.G.z_dim])
        ws, w_mean = self._mapping(z, c, phase)
        return self.G.synthesis(ws, noise=self._noise(n, phase), precision=self.precision), w_mean

    # --- cross-replica helpers --------------------------------------------------------------------

    @staticmethod
    def _reduce(per_replica_grads, per_replica_stats):
        grads = distribute.reduce(tf.distribute.ReduceOp.MEAN, per_replica_grads)
        stats = distribute.reduce(tf.distribute.ReduceOp.SUM, per_replica_stats)
        return grads, stats

    @staticmethod
    def _step(opt, grads):
        """One Adam step in which every trainable variable takes part, as in ADA (whose regularisation
        phases add `logits * 0` to connect them all): a gradient that does not reach a variable is
        zero. (R1 reaches D's 4x4 biases only through lrelu slopes: zero with the reference ops,
        disconnected (None) through the custom op's first-order-only gradient of the slope.)"""
        opt.apply([tf.zeros_like(v) if g is None else g for g, v in zip(grads, opt.variables_to_train)])

    def _update_w_avg(self, per_replica_w_mean):
        w_mean = tf.distribute.get_strategy().reduce(tf.distribute.ReduceOp.MEAN, per_replica_w_mean, axis=None)
        mapping = self.G.mapping
        mapping.w_avg.assign(lerp(w_mean, mapping.w_avg, mapping.w_avg_beta))

    # --- phases -----------------------------------------------------------------------------------

    def _g_main(self):
        def replica_fn():
            c = self._labels(self.batch, "Gmain")
            D = _RecordingD(self.D, self.augment_pipe, self.rng, self.precision)
            with tf.GradientTape() as tape:
                img, w_mean = self._generate(self.batch, c, "Gmain")
                loss = losses.g_nonsaturating(D, img, c)
                total = tf.reduce_mean(loss)
            grads = tape.gradient(total, self.G_vars)
            logits = D.logits[img.ref()]
            stats = {"Loss/scores/fake": stat(logits), "Loss/signs/fake": stat(tf.sign(logits)),
                     "Loss/G/loss": stat(loss)}
            return grads, stats, w_mean

        grads, stats, w_mean = distribute.run(replica_fn, rounds=self.rounds, jit_compile=self.xla)
        grads, stats = self._reduce(grads, stats)
        self._step(self.opt_G, grads)
        self._update_w_avg(w_mean)
        return stats

    def _g_reg(self):
        k = self.loss_kwargs
        interval = k["G_reg_interval"]
        n = max(self.batch // k["pl_batch_shrink"], 1)
        res, channels = self.G.img_resolution, self.G.img_channels

        def replica_fn():
            c = self._labels(n, "Greg")
            z = self.draws.normal("Greg", "z", [n, self.G.z_dim])
            pl_noise = self.draws.normal("Greg", "pl_noise", [n, res, res, channels]) / np.sqrt(res * res)
            with tf.GradientTape() as tape:
                ws, w_mean = self._mapping(z, c, "Greg")
                lengths = losses.path_lengths(self.G, ws, pl_noise, noise=self._noise(n, "Greg"),
                                              precision=self.precision)
                batch_mean = distribute.replica_mean(tf.reduce_mean(lengths))  # pl_mean is global
                pl_mean = lerp(self.pl_mean, batch_mean, k["pl_decay"])
                penalty = tf.square(lengths - pl_mean)
                loss = penalty * k["pl_weight"]
                total = tf.reduce_mean(loss) * interval
            grads = tape.gradient(total, self.G_vars)
            stats = {"Loss/pl_penalty": stat(penalty), "Loss/G/reg": stat(loss)}
            return grads, stats, w_mean, pl_mean

        strategy = tf.distribute.get_strategy()
        grads, stats, w_mean, pl_mean = distribute.run(replica_fn, rounds=self.rounds, jit_compile=self.xla)
        grads, stats = self._reduce(grads, stats)
        self._step(self.opt_G, grads)
        self._update_w_avg(w_mean)
        self.pl_mean.assign(strategy.reduce(tf.distribute.ReduceOp.MEAN, pl_mean, axis=None))
        return stats

    def _d_main(self, real_img, real_c):
        """Fakes with their own drawn labels (ADA) or the reals' labels (TF1 configs)."""
        def replica_fn(real_img, real_c):
            fake_c = real_c if self.fakes_take_real_labels else self._labels(self.batch, "Dmain")
            fake_img, w_mean = self._generate(self.batch, fake_c, "Dmain")
            fake_img = tf.stop_gradient(fake_img)
            D = _RecordingD(self.D, self.augment_pipe, self.rng, self.precision)
            with tf.GradientTape() as tape:
                loss = losses.d_logistic(D, real_img, fake_img, real_c, fake_c)
                total = tf.reduce_mean(loss)
            grads = tape.gradient(total, self.D_vars)
            fake, real = D.logits[fake_img.ref()], D.logits[real_img.ref()]
            stats = {"Loss/scores/fake": stat(fake), "Loss/signs/fake": stat(tf.sign(fake)),
                     "Loss/scores/real": stat(real), "Loss/signs/real": stat(tf.sign(real)), "Loss/D/loss": stat(loss)}
            return grads, stats, w_mean

        grads, stats, w_mean = distribute.run(replica_fn, args=(real_img, real_c), rounds=self.rounds,
                                               jit_compile=self.xla)
        grads, stats = self._reduce(grads, stats)
        self._step(self.opt_D, grads)
        self._update_w_avg(w_mean)
        return stats

    def _d_reg(self, real_img, real_c):
        k = self.loss_kwargs

        def replica_fn(real_img, real_c):
            D = _RecordingD(self.D, self.augment_pipe, self.rng, self.precision)
            with tf.GradientTape() as tape:
                penalty = losses.r1_penalty(D, real_img, real_c)
                loss = penalty * (k["r1_gamma"] / 2)
                total = tf.reduce_mean(loss) * k["D_reg_interval"]
            grads = tape.gradient(total, self.D_vars)
            real = D.logits[real_img.ref()]
            stats = {"Loss/scores/real": stat(real), "Loss/signs/real": stat(tf.sign(real)),
                     "Loss/r1_penalty": stat(penalty), "Loss/D/reg": stat(loss)}
            return grads, stats

        grads, stats = distribute.run(replica_fn, args=(real_img, real_c), rounds=self.rounds,
                                               jit_compile=self.xla)
        grads, stats = self._reduce(grads, stats)
        self._step(self.opt_D, grads)
        return stats

    def _update_ema(self, beta):
        """G_ema = lerp(G, G_ema, beta) for trainables; buffers (`w_avg`, const noise) copied."""
        for src, dst in zip(self.G.weights, self.G_ema.weights):
            if src.trainable:
                dst.assign(lerp(src, dst, beta))
            else:
                dst.assign(src)
