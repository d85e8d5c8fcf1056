"""Training batches with a resumable position."""

import tensorflow as tf

# Each chunk of the stream is its own shuffled dataset (seeded by chunk), about one pass over the
# images, so a resumed run skips at most one pass to reach its position.
_CHUNK_SEED_STRIDE = 1000003


class BatchStream:
    """Endless `(images float32 [B, R, R, C] in [-1, 1], labels float32 [B, label_dim])` batches of a
    `datasets` dataset, deterministic for a seed, at a position `(chunk, batches into the chunk)`
    that a checkpoint stores and `BatchStream(..., position=...)` continues from exactly."""

    def __init__(self, dataset, batch_size, seed=0, mirror=False, position=(0, 0)):
        self.dataset, self.batch_size, self.seed, self.mirror = dataset, int(batch_size), int(seed), bool(mirror)
        self.chunk_batches = max(1, -(-dataset.num_images // self.batch_size))
        self.chunk, self.index = (int(v) for v in position)
        self._iterator = None

    @property
    def position(self):
        return [self.chunk, self.index]

    def _open(self):
        seed = (self.seed * _CHUNK_SEED_STRIDE + self.chunk) % (2 ** 31 - 1)
        ds = self.dataset.tf_dataset(self.batch_size, shuffle=True, seed=seed, repeat=True, mirror=self.mirror)
        self._iterator = iter(ds.take(self.chunk_batches).skip(self.index))

    def next(self):
        if self._iterator is None:
            self._open()
        try:
            batch = next(self._iterator)
        except StopIteration:
            self.chunk, self.index = self.chunk + 1, 0
            self._open()
            batch = next(self._iterator)
        self.index += 1
        return batch
