"""Where the trainer's random numbers come from: its RNG while training, or a recording when a
trajectory of NVIDIA's loop is replayed (the one seam between the two).

Every draw the phases make is named by its phase ("Gmain", "Greg", "Dmain") and a tag:
`z` `[n, z_dim]`, `mix_cutoff` (int32 scalar in [1, num_ws - 1]), `mix_prob` (float32 scalar in
[0, 1)), `mix_z` `[n, z_dim]`, `noise<i>` `[n, R, R, 1]` (conv layer `i`, forward order),
`pl_noise` `[n, H, W, C]` (before its `1 / sqrt(H * W)`), `c_idx` (int32 `[n]` label rows).
Augmentations are not part of it: they draw from the trainer's generator either way.
"""

import tensorflow as tf


class GeneratorDraws:
    """Draws from a `tf.random.Generator` (the training RNG, restored with the checkpoint)."""

    def __init__(self, generator):
        self.generator = generator

    def normal(self, phase, tag, shape):
        """float32 N(0, 1) of `shape`."""
        return self.generator.normal(shape)

    def uniform(self, phase, tag):
        """float32 scalar in [0, 1)."""
        return self.generator.uniform([])

    def integer(self, phase, tag, shape, low, high):
        """int32 `shape` uniform in [low, high)."""
        return self.generator.uniform(shape, low, high, dtype=tf.int32)


class RecordedDraws(tf.Module):
    """Draws from a recording: one variable per `(phase, tag)`, holding the values `load` assigned
    (the compiled phases read the variables, so one trace serves every minibatch).

    Args:
      specs: `{(phase, tag): (shape, dtype)}` of every draw the replayed phases make.
    A draw asked for with another shape, or one not in `specs`, raises ValueError at trace time.
    """

    def __init__(self, specs):
        super().__init__(name="recorded_draws")
        self.values = {key: tf.Variable(tf.zeros(shape, dtype), trainable=False, name="%s_%s" % key)
                       for key, (shape, dtype) in specs.items()}

    def load(self, values):
        """Assign `{(phase, tag): array}` (the draws of the next minibatch; others keep theirs)."""
        for key, value in values.items():
            self.values[key].assign(value)

    def _read(self, phase, tag, shape):
        var = self.values.get((phase, tag))
        if var is None:
            raise ValueError("the recording has no draw %s/%s" % (phase, tag))
        if shape is not None and list(var.shape) != [int(s) for s in shape]:
            raise ValueError("draw %s/%s: the trainer asks for shape %s, the recording holds %s"
                             % (phase, tag, list(shape), var.shape.as_list()))
        return var.read_value()

    def normal(self, phase, tag, shape):
        return self._read(phase, tag, shape)

    def uniform(self, phase, tag):
        return self._read(phase, tag, [])

    def integer(self, phase, tag, shape, low, high):
        return self._read(phase, tag, shape)
