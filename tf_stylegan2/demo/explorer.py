"""The demo's work on one network, free of any web framework: seeds to images, style mixing
grids, SeFa editing, projection of an image (and one-pass encoding with an encoder).

Images come out as uint8 numpy `[H, W, C]` (C = the network's channels), latents as float32
`[num_ws, w_dim]` (one w per synthesis layer). Bad input raises `ValueError` with a one-line,
user-facing message; the web page shows it as it is.

The generator's eager calls run as cached compiled graphs (`SynthesisNetwork`'s execution): every
image here is rendered at batch 1 or at batch `MIX_BATCH` (grids pad their last batch), so after
`warm_up` no request traces a new graph. The SeFa directions of each layer group and the
projector (its compiled step, W statistics and VGG16) are built on first use and kept.
"""

import threading

import numpy as np
import tensorflow as tf

from tf_stylegan2 import editing, generation, projector
from tf_stylegan2.encoders import preprocess
from tf_stylegan2.images import to_uint8_rounded
from tf_stylegan2.projector import targets
from tf_stylegan2.seeds import seeded_noise

MAX_SEED = 2 ** 32 - 1  # numpy's RandomState takes seeds 0 .. 2**32 - 1
MAX_GRID_SEEDS = 6       # rows and columns of a style-mixing grid, each
MIX_BATCH = 4            # the fixed batch size of grid rendering
MAX_PROJECTION_STEPS = 5000


def check_seed(seed):
    """A seed from the page (int or float with an integral value) -> int in `0 .. MAX_SEED`."""
    if seed is None or not float(seed).is_integer():
        raise ValueError("seed must be a whole number from 0 to %d, got %s" % (MAX_SEED, seed))
    if not 0 <= int(seed) <= MAX_SEED:
        raise ValueError("seed %d out of range: seeds go from 0 to %d" % (int(seed), MAX_SEED))
    return int(seed)


def parse_seeds(text, what):
    """'1,5,7', '10-20' or '1-3,7' -> 1 to `MAX_GRID_SEEDS` seeds in range (ValueError otherwise)."""
    seeds = []
    for item in str(text or "").replace(" ", "").split(","):
        lo, sep, hi = item.partition("-")
        if not (lo.isdigit() and (not sep or hi.isdigit())):
            raise ValueError("bad %s %r: expected seeds like '1,5,7' or '10-12'" % (what, item))
        if sep and int(hi) < int(lo):
            raise ValueError("bad %s range %r: end before start" % (what, item))
        seeds.extend(range(int(lo), int(hi if sep else lo) + 1))
        if len(seeds) > MAX_GRID_SEEDS:
            raise ValueError("at most %d %ss, got more in %r" % (MAX_GRID_SEEDS, what, text))
    return [check_seed(s) for s in seeds]


class Explorer:
    """One network's demo functions.

    Args:
      G: a generator (`Networks.G_ema`): a Keras `Generator`, or a `SavedModelGenerator`
        (generation and style mixing only: `can_edit`, `can_project` are False).
      vgg16: the projector's VGG16 weights ("imagenet", a Keras weights file, or a built Keras
        VGG16 model); loaded on the first projection.
      lpips_weights: optional LPIPS per-channel weights `.npz` (`projector.load_linear_weights`).
      encoder: optional `sg.load_encoder` result (a pSp network) whose codes fit `G`: one-pass
        inversion, and a projection start.
    """

    def __init__(self, G, vgg16="imagenet", lpips_weights=None, encoder=None):
        self.G = G
        self.vgg16 = vgg16
        self.lpips_weights = lpips_weights
        self.encoder = encoder
        self.is_keras = hasattr(G.synthesis, "num_noise")
        self._directions = {}
        self._projectors = {}
        self._lock = threading.Lock()          # guards the caches
        self._projection_lock = threading.Lock()  # one projection at a time: the projector's variables are shared

    # What the network allows ------------------------------------------------------------------

    @property
    def noise_modes(self):
        """Generate's noise modes: a SavedModel has no noise inputs, so no "seeded" and no "none"."""
        return generation.NOISE_MODES if self.is_keras else ("const", "random")

    @property
    def can_edit(self):
        return self.is_keras

    @property
    def can_project(self):
        return self.is_keras and self.G.c_dim == 0

    def limitation(self):
        """Why editing / projection are unavailable (a sentence), or None."""
        if not self.is_keras:
            return ("This network is a SavedModel: generation and style mixing only. Editing (SeFa reads the "
                    "network's weights) and projection (it optimises the noise inputs) need a pickle or a "
                    "converted directory.")
        if self.G.c_dim > 0:
            return "Projection is not offered for conditional networks (the projector has no class input)."
        return None

    def layer_groups(self):
        """The `editing.LAYER_GROUPS` names that select at least one layer of this network."""
        return [g for g in editing.LAYER_GROUPS if editing.LAYER_GROUPS[g][0] < self.G.num_ws]

    # Rendering ------------------------------------------------------------------------------

    def _class(self, class_idx):
        return None if self.G.c_dim == 0 or class_idx is None else int(class_idx)

    def _render(self, ws, noise_mode="const"):
        """`ws [n, num_ws, w_dim]` -> uint8 `[n, H, W, C]`, in batches of 1 (n = 1) or `MIX_BATCH`."""
        ws = np.asarray(ws, np.float32)
        if len(ws) == 1:
            return generation.render_ws(self.G, ws, noise_mode)
        images = []
        for start in range(0, len(ws), MIX_BATCH):
            batch = ws[start:start + MIX_BATCH]
            padded = np.concatenate([batch, np.repeat(batch[-1:], MIX_BATCH - len(batch), axis=0)])
            images.append(generation.render_ws(self.G, padded, noise_mode)[:len(batch)])
        return np.concatenate(images)

    def warm_up(self):
        """Trace the graphs the requests use (batch 1 in every noise mode, the grid batch) and
        compute the SeFa directions of every layer group."""
        for noise_mode in self.noise_modes:
            self.generate(0, 1.0, noise_mode, 0)
        self.style_mixing("0", "1", [1.0] * self.G.num_ws, 1.0, "const", 0)
        if self.can_edit:
            for group in self.layer_groups():
                self.directions(group)

    def generate(self, seed, truncation_psi=1.0, noise_mode="const", class_idx=None):
        """One seed's image as the generate-images apps render it.

        Returns:
          (uint8 `[H, W, C]`, its w float32 `[num_ws, w_dim]`).
        """
        seed = check_seed(seed)
        if noise_mode not in self.noise_modes:
            raise ValueError("noise mode must be one of %s for this network, got %r"
                             % (", ".join(self.noise_modes), noise_mode))
        w = generation.seed_ws(self.G, [seed], float(truncation_psi), self._class(class_idx))
        if noise_mode == "seeded":
            _, noise = seeded_noise(seed, self.G.z_dim, self.G.synthesis.num_noise)
            image = generation.render_ws(self.G, w, "const", noise)
        else:
            image = generation.render_ws(self.G, w, noise_mode)
        return image[0], w[0]

    def layer_weights(self, preset):
        """A style-mixing preset -> the column seeds' share per layer, float `[num_ws]`: 1 on the
        group's layers ("coarse", "middle", "fine", "all"), 0 elsewhere."""
        weights = np.zeros([self.G.num_ws], np.float32)
        weights[editing.layer_indices(preset, self.G.num_ws)] = 1
        return weights

    def style_mixing(self, row_seeds, col_seeds, weights, truncation_psi=1.0, noise_mode="const", class_idx=None):
        """The official style-mixing grid, with PaddleGAN's per-layer weights.

        Args:
          row_seeds, col_seeds: seed lists as text ('1,5,7', '10-12'), 1 to `MAX_GRID_SEEDS` each.
          weights: `num_ws` numbers in [0, 1], the column seed's share of each layer (1 on the
            layers of `--col-styles` gives the official mix).
        Returns:
          uint8 `[(rows + 1) H, (cols + 1) W, C]`: `generation.style_mixing_grid`'s layout.
        """
        rows, cols = parse_seeds(row_seeds, "row seed"), parse_seeds(col_seeds, "column seed")
        weights = np.asarray([0.0 if v is None else float(v) for v in weights], np.float32)
        if weights.shape != (self.G.num_ws,) or not np.all((weights >= 0) & (weights <= 1)):
            raise ValueError("layer weights must be %d numbers from 0 to 1" % self.G.num_ws)
        modes = [m for m in self.noise_modes if m != "seeded"]  # seeded noise is one seed's: not for mixes
        if noise_mode not in modes:
            raise ValueError("style mixing takes noise mode %s, got %r" % (", ".join(modes), noise_mode))
        seeds = list(dict.fromkeys(rows + cols))
        w = dict(zip(seeds, generation.seed_ws(self.G, seeds, float(truncation_psi), self._class(class_idx))))
        keys = [(s, s) for s in seeds] + [(r, c) for r in rows for c in cols]
        ws = [w[r] if r == c else generation.mix_latents(w[c][None], w[r][None], weights)[0] for r, c in keys]
        tiles = dict(zip(keys, self._render(np.stack(ws), noise_mode)))
        return generation.style_mixing_grid(tiles, rows, cols)

    # Editing --------------------------------------------------------------------------------

    def directions(self, layer_group="all"):
        """SeFa directions of `layer_group`'s conv layers: float32 `[k, w_dim]`, computed once."""
        if not self.can_edit:
            raise ValueError(self.limitation())
        with self._lock:
            if layer_group not in self._directions:
                self._directions[layer_group] = editing.sefa_directions(self.G, layer_group)[0]
            return self._directions[layer_group]

    def edit(self, w, degrees, layer_group="all"):
        """`w [num_ws, w_dim]` moved by `degrees[i]` along SeFa direction i of `layer_group`, on
        that group's layers; rendered with const noise.

        Returns:
          (uint8 `[H, W, C]`, the edited w float32 `[num_ws, w_dim]`).
        """
        if w is None:
            raise ValueError("nothing to edit yet: generate an image or project one, then send it here")
        w = np.asarray(w, np.float32)
        if w.shape != (self.G.num_ws, self.G.w_dim):
            raise ValueError("latent has shape %s; this network needs [%d, %d]"
                             % (list(w.shape), self.G.num_ws, self.G.w_dim))
        directions = self.directions(layer_group)
        edited = w[np.newaxis]
        for direction, degree in zip(directions, degrees):
            edited = editing.edit(edited, direction, float(degree or 0.0), layer_group)
        return self._render(edited)[0], edited[0]

    # Projection and encoding ----------------------------------------------------------------

    def load_target(self, path):
        """An uploaded image file -> (target float32 `[1, R, R, C]` in [-1, 1], its uint8 `[R, R, C]`,
        note on cropping/resizing or None). ValueError for anything Pillow cannot read."""
        if not path:
            raise ValueError("upload an image first")
        target, note = targets.load_image(path, self.G.img_resolution, self.G.img_channels)
        return target, to_uint8_rounded(target[0]), note

    def _projector(self, space):
        with self._lock:
            if space not in self._projectors:
                linear = projector.load_linear_weights(self.lpips_weights) if self.lpips_weights else None
                vgg16 = self.vgg16 if hasattr(self.vgg16, "layers") else projector.vgg16_backbone(self.vgg16)
                self.vgg16 = vgg16  # one VGG16 for both spaces
                self._projectors[space] = projector.Projector(
                    self.G, projector.PerceptualDistance(vgg16, linear), space=space,
                    jit=bool(tf.config.list_physical_devices("GPU")))
            return self._projectors[space]

    def project(self, path, num_steps=200, space="w", preview_every=0, from_encoder=False):
        """Project an uploaded image with the project's projector (official schedules, `num_steps` steps),
        from the W mean and random noise (official), or `from_encoder` from the encoder's code and
        the stored noise (space "w+").

        Yields:
          `(step, distance, reconstruction uint8 [H, W, C] or None, w or None)` after each step:
          the reconstruction every `preview_every` steps (0: never) and at the last step, the
          projected w float32 `[num_ws, w_dim]` at the last step.
        """
        if not self.can_project:
            raise ValueError(self.limitation())
        if space not in projector.SPACES:
            raise ValueError("space must be one of %s, got %r" % (", ".join(projector.SPACES), space))
        if not 1 <= int(num_steps) <= MAX_PROJECTION_STEPS:
            raise ValueError("steps must be from 1 to %d, got %s" % (MAX_PROJECTION_STEPS, num_steps))
        target, _, _ = self.load_target(path)
        start = self._encode(path) if from_encoder else None
        if start is not None and space != "w+":
            raise ValueError("starting from the encoder's code needs the w+ space (one w per layer)")
        with self._projection_lock:
            proj = self._projector(space)
            # The step function does not depend on num_steps: only the schedules driven by run() do.
            proj.hp = proj.hp._replace(num_steps=int(num_steps))
            for result in proj.run(target, start):
                last = result.step == proj.hp.num_steps
                preview = last or (preview_every and result.step % preview_every == 0)
                image = to_uint8_rounded(proj.images()[0]) if preview else None
                yield result.step, result.distance, image, proj.w()[0] if last else None

    def _encode(self, path):
        """The encoder's code of an image file (pSp's preprocessing: RGB, resized) -> float32 `[1, num_ws, w_dim]`."""
        if self.encoder is None:
            raise ValueError("no encoder loaded: start the demo with --encoder=psp.pt")
        if not path:
            raise ValueError("upload an image first")
        return self.encoder.encode(preprocess.read_rgb(path))

    def encode(self, path):
        """One-pass inversion with the encoder -> (reconstruction uint8 `[H, W, C]` with const noise, as
        pSp decodes, w `[num_ws, w_dim]`)."""
        w = self._encode(path)
        return self._render(w)[0], w[0]
