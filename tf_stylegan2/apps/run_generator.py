"""`run_generator.py`: NVIDIA's generation apps (generate-images, style-mixing-example) plus
per-layer latent mixing, network blending, rendering of latent files, SeFa directions, latent
editing (PaddleGAN's editing app) and paired datasets for encoder training (generate-pairs).

Every subcommand writes into a new `<result_dir>/<NNNNN>-<subcommand>/` directory, created only
after the arguments and inputs have been checked.
"""

import os

import numpy as np
from absl import flags

import tf_stylegan2 as sg
from tf_stylegan2 import blending, converted, editing, generation, latents
from tf_stylegan2.apps import cli
from tf_stylegan2.encoder_training import pairs
from tf_stylegan2.files import atomic_directory, create_run_dir, save_png
from tf_stylegan2.progress import Progress

FLAGS = flags.FLAGS

# allow_override: other apps define some of the same names (network, result_dir, seeds, ...) with
# other defaults; a process that runs several apps (the test suite) redefines each app's flags in its main.
_ARGS = dict(allow_override=True)
PREVIEW_COUNT = 9


def define_flags():
    """Define this app's flags (called from `main`, so importing the module defines none)."""
    flags.DEFINE_string("network", None, "Network: pickle path, URL, gdrive: alias, converted or SavedModel directory "
                        "(default: the packaged 32x32 emoji network); blend-networks (required there): the network "
                        "giving the low-resolution layers, mapping and noise", **_ARGS)
    flags.DEFINE_string("seeds", None, "generate-images, edit-latents: seeds, e.g. '1,5,7', '10-20' or '1-3,7'",
                        **_ARGS)
    flags.DEFINE_float("truncation_psi", None, "generate-images, style-mixing-example, edit-latents: truncation psi "
                       "(default 0.5 as the original; StyleGAN v1 networks: 0.7 on their first 8 layers, as their "
                       "Gs.run; 1 = no truncation)",
                       **_ARGS)
    flags.DEFINE_enum("noise_mode", None, generation.NOISE_MODES,
                      "generate-images, style-mixing-example, mix-latents, generate-from-latents, blend-networks, "
                      "edit-latents: noise: seeded (TF1 generate-images, its default), const (stored buffers; "
                      "style mixing default), "
                      "random or none", **_ARGS)
    flags.DEFINE_integer("class", None, "generate-images, style-mixing-example, blend-networks, edit-latents: class "
                         "index for conditional networks", lower_bound=0, **_ARGS)
    flags.DEFINE_string("result_dir", "results", "Root directory for the numbered run directories", **_ARGS)
    flags.DEFINE_integer("batch_size", 4, "generate-images, style-mixing-example, generate-from-latents, edit-latents: "
                         "images rendered per batch", lower_bound=1, **_ARGS)
    flags.DEFINE_string("row_seeds", None, "style-mixing-example: row seeds", **_ARGS)
    flags.DEFINE_string("col_seeds", None, "style-mixing-example: column seeds", **_ARGS)
    flags.DEFINE_string("col_styles", "0-6", "style-mixing-example: layers taken from the column seeds", **_ARGS)
    flags.DEFINE_string("latent1", None, "mix-latents: first latent file (.npy [num_ws, w_dim] / [1, num_ws, w_dim] "
                        "or projected_w.npz)", **_ARGS)
    flags.DEFINE_string("latent2", None, "mix-latents: second latent file", **_ARGS)
    flags.DEFINE_list("weights", ["0.5"], "mix-latents: latent1's share per layer; fewer than num_ws pad with the last",
                      **_ARGS)
    flags.DEFINE_list("latents", None, "generate-from-latents, edit-latents: latent files (.npy / .npz)", **_ARGS)
    flags.DEFINE_string("noise_file", None, "generate-from-latents: per-layer noise (.npz noise0.., e.g. the "
                        "projector's <prefix>noise.npz) used for every latent instead of --noise-mode", **_ARGS)
    flags.DEFINE_string("high_res_network", None, "blend-networks: the network giving the high-resolution layers",
                        **_ARGS)
    flags.DEFINE_string("network_b", None, "generate-pairs: the second network (the targets), e.g. a blended one",
                        **_ARGS)
    flags.DEFINE_string("resume", None, "generate-pairs: an earlier generate-pairs run directory to complete "
                        "(same networks and options; the seeds it holds are skipped)", **_ARGS)
    flags.DEFINE_integer("resolution", None, "blend-networks: switch resolution (4 .. img_resolution)", **_ARGS)
    flags.DEFINE_integer("level", 0, "blend-networks: switch at the resolution's first (0) or second (1) layer",
                         **_ARGS)
    flags.DEFINE_float("blend_width", None, "blend-networks: width of a sigmoid transition (default: hard switch)",
                       **_ARGS)
    flags.DEFINE_integer("seed", 0, "blend-networks: seed of the 9 preview latents (RandomState(seed).randn(9, z_dim))",
                         **_ARGS)
    flags.DEFINE_string("out", None, "sefa: output .npz (default <result-dir>/<NNNNN>-sefa/directions.npz)", **_ARGS)
    flags.DEFINE_string("layers", "all", "sefa, edit-latents: the conv layers factorised (sefa) or the w layers edited "
                        "(edit-latents): "
                        "all, coarse (0-3), middle (4-7), fine (8-) or indices like 0-3,7", **_ARGS)
    flags.DEFINE_string("directions", None, "edit-latents: direction file (sefa .npz, name -> vector .npz, .npy) "
                        "or name=path.npy,... (one direction per file)", **_ARGS)
    flags.DEFINE_string("direction", "0", "edit-latents: direction index or name", **_ARGS)
    flags.DEFINE_list("degrees", None, "edit-latents: steps along the direction, e.g. -5,0,5 (the grid's columns)",
                      **_ARGS)
    flags.DEFINE_string("latent", None, "edit-latents, PaddleGAN form: one latent (.npy [num_ws, w_dim])", **_ARGS)
    flags.DEFINE_string("direction_name", None, "edit-latents, PaddleGAN form: = --direction", **_ARGS)
    flags.DEFINE_string("direction_path", None, "edit-latents, PaddleGAN form: = --directions", **_ARGS)
    flags.DEFINE_float("direction_offset", None, "edit-latents, PaddleGAN form: one degree; writes src.editing.png, "
                       "dst.editing.png, dst.editing.npy (PaddleGAN default 0)", **_ARGS)


def _require(*names):
    missing = ["--" + n.replace("_", "-") for n in names if FLAGS[n].value in (None, "", [])]
    if missing:
        raise cli.CommandError("%s required" % ", ".join(missing))


def _generator(path):
    return sg.load_network(path).G_ema


def _flag_or(name, default):
    return default if FLAGS[name].value is None else FLAGS[name].value


def _default_psi(G):
    """Without --truncation-psi: 0.5 as NVIDIA's StyleGAN2 apps, a StyleGAN v1 network's own 0.7 (cutoff 8)."""
    return generation.default_truncation_psi(G)


def _unseeded_noise_mode():
    """--noise_mode where images do not come from one seed each: const unless given, seeded is an error."""
    noise_mode = _flag_or("noise_mode", "const")
    if noise_mode == "seeded":
        raise cli.CommandError("--noise-mode seeded applies to generate-images only; use const, random or none")
    return noise_mode


def _save_batch(run_dir, names, images, progress):
    for name, img in zip(names, images):
        save_png(os.path.join(run_dir, name), img)
    progress.update(len(names))


def generate_images():
    """`seed%04d.png` per seed; TF1 defaults: psi 0.5 (StyleGAN v1: 0.7, cutoff 8), seeded noise."""
    _require("seeds")
    seeds = cli.parse_int_list(FLAGS.seeds, "seed")
    G = _generator(FLAGS.network)
    batches = generation.render_seeds(G, seeds, truncation_psi=_flag_or("truncation_psi", _default_psi(G)),
                                      noise_mode=_flag_or("noise_mode", "seeded"), class_idx=FLAGS["class"].value,
                                      batch_size=FLAGS.batch_size)
    run_dir = create_run_dir(FLAGS.result_dir, "generate-images")
    progress = Progress(total=len(seeds), desc="generate-images")
    for batch, images in batches:
        _save_batch(run_dir, ["seed%04d.png" % s for s in batch], images, progress)
    progress.close()
    print(run_dir)


def style_mixing_example():
    """Tiles `{row}-{col}.png` (sources `s-s.png`) and the official `grid.png`; psi 0.5 (v1: 0.7, cutoff 8),
    const noise."""
    _require("row_seeds", "col_seeds")
    row_seeds = cli.parse_int_list(FLAGS.row_seeds, "row seed")
    col_seeds = cli.parse_int_list(FLAGS.col_seeds, "column seed")
    col_styles = cli.parse_int_list(FLAGS.col_styles, "style")
    noise_mode = _unseeded_noise_mode()
    G = _generator(FLAGS.network)
    ws = generation.style_mixing_ws(G, row_seeds, col_seeds, col_styles, _flag_or("truncation_psi", _default_psi(G)),
                                    FLAGS["class"].value)
    run_dir = create_run_dir(FLAGS.result_dir, "style-mixing-example")
    keys = list(ws)
    tiles = {}
    progress = Progress(total=len(keys), desc="style-mixing-example")
    for batch in generation.batches(keys, FLAGS.batch_size):
        images = generation.render_ws(G, np.stack([ws[k] for k in batch]), noise_mode)
        tiles.update(zip(batch, images))
        _save_batch(run_dir, ["%d-%d.png" % k for k in batch], images, progress)
    progress.close()
    save_png(os.path.join(run_dir, "grid.png"), generation.style_mixing_grid(tiles, row_seeds, col_seeds))
    print(run_dir)


def mix_latents():
    """PaddleGAN mixing: `src1.mixing.png`, `src2.mixing.png`, `dst.mixing.png`, the mixed latent
    `dst.mixing.npy` and `grid.png` (latent1 | mix | latent2); const noise unless given."""
    _require("latent1", "latent2")
    noise_mode = _unseeded_noise_mode()
    G = _generator(FLAGS.network)
    w1, w2 = (_single_latent(path, G) for path in (FLAGS.latent1, FLAGS.latent2))
    mixed = generation.mix_latents(w1, w2, _floats(FLAGS.weights, "--weights"))
    images = generation.render_ws(G, np.concatenate([w1, w2, mixed]), noise_mode)
    run_dir = create_run_dir(FLAGS.result_dir, "mix-latents")
    for name, img in zip(["src1.mixing.png", "src2.mixing.png", "dst.mixing.png"], images):
        save_png(os.path.join(run_dir, name), img)
    latents.save_latents(os.path.join(run_dir, "dst.mixing.npy"), mixed)
    save_png(os.path.join(run_dir, "grid.png"), generation.image_grid({(0, 0): images[0], (0, 1): images[2],
                                                                        (0, 2): images[1]}, 1, 3))
    print(run_dir)


def _single_latent(path, G):
    w = latents.load_latents(path, G.num_ws, G.w_dim)
    if w.shape[0] != 1:
        raise cli.CommandError("%s holds %d latents; mix-latents takes one per file" % (path, w.shape[0]))
    return w


def _floats(values, what):
    try:
        return [float(v) for v in values]
    except ValueError:
        raise cli.CommandError("%s must be numbers, got %s" % (what, ",".join(values))) from None


def _load_latent_files(paths, G):
    """Latent files -> (a name per latent: the file's stem, `<stem>-NN` in files holding several;
    ws `[n, num_ws, w_dim]`). Names must be unique (they name the output files)."""
    names, ws = [], []
    for path in paths:
        w = latents.load_latents(path, G.num_ws, G.w_dim)
        stem = os.path.splitext(os.path.basename(path))[0]
        names += [stem] if len(w) == 1 else ["%s-%02d" % (stem, i) for i in range(len(w))]
        ws.append(w)
    if len(set(names)) != len(names):
        raise cli.CommandError("latent files with the same name would overwrite each other's images")
    return names, np.concatenate(ws)


def generate_from_latents():
    """`<file stem>.png` per latent file (`<stem>-NN.png` for files holding several); const noise,
    or the noise of `--noise-file` (the projector's optimised noise reproduces its final image)."""
    _require("latents")
    noise_mode = _unseeded_noise_mode()
    G = _generator(FLAGS.network)
    noise = None
    if FLAGS.noise_file:
        if not hasattr(G.synthesis, "num_noise"):
            raise cli.CommandError("--noise-file needs a Keras network (pickle or converted directory)")
        resolutions = [G.synthesis.noise_resolution(i) for i in range(G.synthesis.num_noise)]
        noise = latents.load_noise(FLAGS.noise_file, resolutions)
    names, ws = _load_latent_files(FLAGS.latents, G)
    jobs = [(name + ".png", w) for name, w in zip(names, ws)]
    run_dir = create_run_dir(FLAGS.result_dir, "generate-from-latents")
    progress = Progress(total=len(jobs), desc="generate-from-latents")
    for batch in generation.batches(jobs, FLAGS.batch_size):
        _save_batch(run_dir, [name for name, _ in batch],
                    generation.render_ws(G, np.stack([w for _, w in batch]), noise_mode, noise), progress)
    progress.close()
    print(run_dir)


def blend_networks():
    """Blend two networks (spec §8) into the converted directory `<run dir>/network/` (G and D of
    the low-resolution network, G_ema blended, as JP's pickle) and write `preview.png`: 9 latents
    (JP: `RandomState(seed).randn(9, z_dim)`, no truncation) rendered by the low-resolution,
    high-resolution and blended networks, one row each; const noise unless given."""
    _require("network", "high_res_network", "resolution")
    noise_mode = _unseeded_noise_mode()
    low_nets = sg.load_network(FLAGS.network)
    low, high = low_nets.G_ema, _generator(FLAGS.high_res_network)
    blended = blending.blend_networks(low, high, FLAGS.resolution, FLAGS.level, FLAGS.blend_width)
    z = np.random.RandomState(FLAGS.seed).randn(PREVIEW_COUNT, low.z_dim)
    c = generation.class_labels(low, FLAGS["class"].value, PREVIEW_COUNT)
    run_dir = create_run_dir(FLAGS.result_dir, "blend-networks")
    with atomic_directory(os.path.join(run_dir, "network")) as tmp:
        converted.save(low_nets._replace(G_ema=blended), tmp,
                       source="blend-networks %s + %s" % (FLAGS.network, FLAGS.high_res_network))
    cells = {}
    for row, G in enumerate(Progress([low, high, blended], desc="blend-networks preview")):
        images = generation.render_ws(G, G.mapping(z, c), noise_mode)
        cells.update({(row, j): img for j, img in enumerate(images)})
    save_png(os.path.join(run_dir, "preview.png"), generation.image_grid(cells, 3, PREVIEW_COUNT))
    print(run_dir)


def sefa():
    """SeFa (spec §9): `directions.npz` (`directions` [k, w_dim], `singular_values` [k]) from the
    stacked style weights of the chosen conv layers (ToRGB layers excluded)."""
    G = _generator(FLAGS.network)
    directions, singular_values = editing.sefa_directions(G, _layers(FLAGS.layers))
    if FLAGS.out:
        out = FLAGS.out
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    else:
        out = os.path.join(create_run_dir(FLAGS.result_dir, "sefa"), "directions.npz")
    editing.save_sefa(out, directions, singular_values)
    print(out)


def _layers(text):
    """--layers: a group name (checked by `editing.layer_indices`) or indices like 0-3,7."""
    text = text.strip()
    return cli.parse_int_list(text, "layer") if text[:1].isdigit() else text


def _one_of(general, paddle):
    """The value of flag `general` or of its PaddleGAN alias `paddle`; giving both is an error."""
    if FLAGS[general].present and FLAGS[paddle].present:
        raise cli.CommandError("give --%s or --%s, not both" % (general, paddle.replace("_", "-")))
    return FLAGS[paddle].value if FLAGS[paddle].present else FLAGS[general].value


def _edit_sources(G):
    """(row names, ws [N, num_ws, w_dim]) from --seeds, --latents or --latent."""
    given = [name for name in ("seeds", "latents", "latent") if FLAGS[name].value]
    if len(given) != 1:
        raise cli.CommandError("give exactly one of --seeds, --latents, --latent")
    if FLAGS.seeds:
        seeds = cli.parse_int_list(FLAGS.seeds, "seed")
        return (["seed%04d" % s for s in seeds],
                generation.seed_ws(G, seeds, _flag_or("truncation_psi", _default_psi(G)), FLAGS["class"].value))
    return _load_latent_files(FLAGS.latents or [FLAGS.latent], G)


def _load_direction_spec(spec):
    """--directions: one file, or name=path,... (one direction per file) -> {key: array}."""
    if "=" not in spec:
        return editing.load_directions(spec)
    out = {}
    for item in spec.split(","):
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise cli.CommandError("bad --directions item %r: expected name=path" % item)
        loaded = editing.load_directions(path.strip())
        if len(loaded) != 1:
            raise cli.CommandError("%s holds %d directions; name=path takes a file with one" % (path, len(loaded)))
        out[name.strip()] = next(iter(loaded.values()))
    return out


def edit_latents():
    """Latents moved along a direction: `grid.png` (rows: latents, columns: degrees), per image
    `<latent>_degree<d>.png` and its latent `<latent>_degree<d>.npy` ([num_ws, w_dim]), and all
    edited latents in `edited_w.npz` (key `w`, row-major). PaddleGAN's form (`--latent`,
    `--direction-offset`) writes `src.editing.png`, `dst.editing.png` and `dst.editing.npy` instead
    of the per-image files. Const noise unless given."""
    paddle = FLAGS["latent"].present or FLAGS["direction_offset"].present
    directions_path = _one_of("directions", "direction_path")
    key = _one_of("direction", "direction_name")
    if not directions_path:
        raise cli.CommandError("--directions (or --direction-path) required")
    if paddle:
        if FLAGS["degrees"].present:
            raise cli.CommandError("--degrees goes with --latents/--seeds; "
                                   "PaddleGAN's --latent takes --direction-offset")
        if not FLAGS.latent:
            raise cli.CommandError("--direction-offset goes with --latent (PaddleGAN's form); use --degrees")
        degrees = [0.0, _flag_or("direction_offset", 0.0)]
    else:
        degrees = _floats(FLAGS.degrees or ["-5", "0", "5"], "--degrees")
    noise_mode = _unseeded_noise_mode()
    layers = _layers(FLAGS.layers)
    G = _generator(FLAGS.network)
    direction = editing.check_direction(editing.select_direction(_load_direction_spec(directions_path), key),
                                        G.num_ws, G.w_dim, "direction %s" % key)
    names, ws = _edit_sources(G)
    if paddle and len(ws) != 1:
        raise cli.CommandError("--latent holds %d latents; PaddleGAN's form edits one" % len(ws))
    edited = np.stack([editing.edit(ws, direction, d, layers) for d in degrees], axis=1)  # [N, D, num_ws, w_dim]
    jobs = [("%s_degree%+g" % (name, d), w) for name, row in zip(names, edited) for d, w in zip(degrees, row)]
    if len(set(name for name, _ in jobs)) != len(jobs):
        raise cli.CommandError("--degrees repeats a value: %s" % ",".join("%g" % d for d in degrees))
    run_dir = create_run_dir(FLAGS.result_dir, "edit-latents")
    cells = {}
    progress = Progress(total=len(jobs), desc="edit-latents")
    for batch in generation.batches(jobs, FLAGS.batch_size):
        images = generation.render_ws(G, np.stack([w for _, w in batch]), noise_mode)
        for (name, w), img in zip(batch, images):
            cells[divmod(len(cells), len(degrees))] = img
            if not paddle:
                save_png(os.path.join(run_dir, name + ".png"), img)
                latents.save_latents(os.path.join(run_dir, name + ".npy"), w)
        progress.update(len(batch))
    progress.close()
    if paddle:
        save_png(os.path.join(run_dir, "src.editing.png"), cells[(0, 0)])
        save_png(os.path.join(run_dir, "dst.editing.png"), cells[(0, 1)])
        latents.save_latents(os.path.join(run_dir, "dst.editing.npy"), edited[0, 1])
    else:
        latents.save_latents(os.path.join(run_dir, "edited_w.npz"), edited.reshape(-1, G.num_ws, G.w_dim))
    save_png(os.path.join(run_dir, "grid.png"), generation.image_grid(cells, len(names), len(degrees)))
    print(run_dir)


def generate_pairs():
    """A paired dataset for encoder training: each seed's W (network A's mapping, psi 1 unless
    given) and noise (const: A's buffers) rendered by A into `source/` and by B into `target/`,
    with `pairs.json` (seeds, file names, W); see `tf_stylegan2.encoder_training.pairs`."""
    _require("network", "network_b", "seeds")
    seeds = cli.parse_int_list(FLAGS.seeds, "seed")
    a, b = _generator(FLAGS.network), _generator(FLAGS.network_b)
    noise_mode = _flag_or("noise_mode", "const")
    pairs.check_arguments(a, b, noise_mode, FLAGS["class"].value)
    if FLAGS.resume is not None and not os.path.isfile(os.path.join(FLAGS.resume, "pairs.json")):
        raise cli.CommandError("--resume %s: not a generate-pairs run directory (no pairs.json)" % FLAGS.resume)
    run_dir = FLAGS.resume or create_run_dir(FLAGS.result_dir, "generate-pairs")
    progress = Progress(total=len(seeds), desc="generate-pairs")
    pairs.generate_pairs(a, b, seeds, run_dir, truncation_psi=_flag_or("truncation_psi", 1.0), noise_mode=noise_mode,
                         class_idx=FLAGS["class"].value, batch_size=FLAGS.batch_size, progress=progress,
                         info=dict(network=FLAGS.network, network_b=FLAGS.network_b))
    progress.close()
    print(run_dir)


SUBCOMMANDS = {
    "generate-images": generate_images,
    "style-mixing-example": style_mixing_example,
    "mix-latents": mix_latents,
    "generate-from-latents": generate_from_latents,
    "blend-networks": blend_networks,
    "sefa": sefa,
    "edit-latents": edit_latents,
    "generate-pairs": generate_pairs,
}


def main():
    define_flags()
    cli.run(SUBCOMMANDS)
