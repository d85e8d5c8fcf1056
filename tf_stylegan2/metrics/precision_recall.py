"""Improved precision and recall (Kynkäänniemi et al.; spec §13.4)."""

import numpy as np
import tensorflow as tf


def _squared_distances(rows, cols):
    """`max(|u|^2 - 2 u.v + |v|^2, 0)` `[R, C]` (same ordering as the Euclidean distances)."""
    d = (tf.reduce_sum(tf.square(rows), axis=1, keepdims=True) - 2.0 * tf.matmul(rows, cols, transpose_b=True)
         + tf.reduce_sum(tf.square(cols), axis=1)[tf.newaxis, :])
    return tf.maximum(d, 0.0)


def _blocks(x, batch_size):
    """float64 row blocks of `x` (kept in its own dtype: float64 only a block at a time)."""
    for i in range(0, int(x.shape[0]), batch_size):
        yield tf.cast(x[i:i + batch_size], tf.float64)


def manifold_radii(manifold, nhood_size, batch_size=5000):
    """Squared distance `[N]` from each manifold point to its `nhood_size`-th nearest neighbour,
    itself not counted (the (k+1)-th smallest value of its row; the self-distance 0 is the first)."""
    k = nhood_size + 1
    radii = []
    for rows in _blocks(manifold, batch_size):
        nearest = None  # the k smallest squared distances so far, as negatives (top_k finds the largest)
        for cols in _blocks(manifold, batch_size):
            cand = tf.math.top_k(-_squared_distances(rows, cols), k=min(k, int(cols.shape[0]))).values
            nearest = cand if nearest is None else tf.math.top_k(tf.concat([nearest, cand], axis=1), k=k).values
        radii.append(-nearest[:, k - 1])
    return tf.concat(radii, axis=0)


def fraction_inside(probes, manifold, radii, batch_size=5000):
    """Fraction of `probes` within the radius of at least one manifold point."""
    inside = []
    for rows in _blocks(probes, batch_size):
        hit = tf.zeros([int(rows.shape[0])], tf.bool)
        for start, cols in zip(range(0, int(manifold.shape[0]), batch_size), _blocks(manifold, batch_size)):
            r = radii[start:start + int(cols.shape[0])]
            hit = tf.logical_or(hit, tf.reduce_any(_squared_distances(rows, cols) <= r[tf.newaxis, :], axis=1))
        inside.append(hit)
    return float(tf.reduce_mean(tf.cast(tf.concat(inside, axis=0), tf.float64)))


def pr_from_features(real_feats, fake_feats, nhood_size=3, batch_size=5000):
    """`(precision, recall)` of feature sets `[N_r, D]`, `[N_g, D]`, float64 inside.

    Precision: the fraction of fakes inside the reals' manifold; recall: the fraction of reals
    inside the fakes' manifold. A point's manifold radius is the distance to its `nhood_size`-th
    nearest neighbour in its own set; a probe is inside when it is within the radius of any point.
    `batch_size` only bounds memory (blocks of `batch_size^2` distances).
    """
    real, fake = tf.constant(np.asarray(real_feats)), tf.constant(np.asarray(fake_feats))
    for what, x in (("real", real), ("generated", fake)):
        if int(x.shape[0]) <= nhood_size:
            raise ValueError("precision/recall with %d neighbours needs more than %d %s samples, got %d"
                             % (nhood_size, nhood_size, what, int(x.shape[0])))
    precision = fraction_inside(fake, real, manifold_radii(real, nhood_size, batch_size), batch_size)
    recall = fraction_inside(real, fake, manifold_radii(fake, nhood_size, batch_size), batch_size)
    return precision, recall
