"""The demo's web page: Gradio Blocks over an `Explorer`, four tabs (Generate, Style mixing,
Editing, Projection).

Handlers run in Gradio's worker threads (its queue), never on the server's event loop; long
ones report through `gr.Progress`. A `ValueError`/`OSError` from the work becomes a
`gr.Error`: the page shows its one-line message and the server goes on serving. Each handler is
also an HTTP API endpoint (`api_name`, e.g. `/generate`), as `gradio_client` calls them.
"""

import functools
import html
import inspect
import os
import tempfile

import gradio as gr
import numpy as np

from tf_stylegan2 import latents
from tf_stylegan2.demo.explorer import MAX_PROJECTION_STEPS, MAX_SEED
from tf_stylegan2.files import save_png

NUM_SLIDERS = 6       # SeFa directions offered as sliders (the leading ones)
EDIT_RANGE = 10.0     # slider range of a direction's degree (unit directions, w units)
DEFAULT_STEPS = 200   # projection steps offered first
TAB_IDS = ("generate", "mixing", "editing", "projection")
# images fill their frames, enlarged without smoothing (a 32x32 network's images stay crisp)
CSS = ".pixels img {width: 100%; height: 100%; object-fit: contain; image-rendering: pixelated;}"
PIXELS = dict(type="numpy", format="png", elem_classes="pixels")
MAX_SLIDERS_PER_ROW = 6


def _readable_errors(fn):
    """Wrap a handler (function or generator): ValueError/OSError -> `gr.Error` with its first line."""

    def error(e):
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return gr.Error(html.escape(text), print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except (ValueError, OSError) as e:
                raise error(e) from None
    else:
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except (ValueError, OSError) as e:
                raise error(e) from None
    return wrapped


class _Downloads:
    """Files offered for download, each request's in a new directory under `root`."""

    def __init__(self, root):
        self.root = root

    def write(self, png=None, w=None, stem="image"):
        """uint8 `[H, W, C]` -> `<stem>.png`, w `[num_ws, w_dim]` -> `<stem>_w.npy`; returns the paths."""
        directory = tempfile.mkdtemp(dir=self.root)
        paths = []
        if png is not None:
            paths.append(os.path.join(directory, stem + ".png"))
            save_png(paths[-1], png)
        if w is not None:
            paths.append(latents.save_latents(os.path.join(directory, stem + "_w.npy"), w))
        return paths


def _generate_tab(ex, downloads, class_input):
    """Seed, truncation, noise mode (and the shared class) -> image, PNG + w downloads."""
    with gr.Row():
        with gr.Column(scale=1):
            seed = gr.Number(label="Seed (0-%d)" % MAX_SEED, value=0, precision=0, elem_id="seed")
            random_seed = gr.Button("Random seed", size="sm")
            psi = gr.Slider(-1.0, 2.0, value=0.5, step=0.05, label="Truncation psi (1 = none)")
            noise = gr.Radio(list(ex.noise_modes), value=ex.noise_modes[-1] if ex.is_keras else "const",
                             label="Noise (seeded: TF1 generate-images)")
            send = gr.Button("Edit this image", variant="secondary", visible=ex.can_edit)
        with gr.Column(scale=2):
            image = gr.Image(label="Image", height=320, elem_id="generated", **PIXELS)
            files = gr.File(label="Downloads: PNG and its w (.npy, [num_ws, w_dim])", file_count="multiple")
    w_state = gr.State(None)

    @_readable_errors
    def generate(seed_value, psi_value, noise_mode, class_idx):
        img, w = ex.generate(seed_value, psi_value, noise_mode, class_idx)
        return img, downloads.write(img, w, "seed%04d" % int(seed_value)), w

    inputs, outputs = [seed, psi, noise, class_input], [image, files, w_state]
    # seed.change also follows the random-seed button
    for i, trigger in enumerate([seed.change, psi.release, noise.change, class_input.change]):
        trigger(generate, inputs, outputs, api_name="generate" if i == 0 else False, trigger_mode="always_last")
    random_seed.click(lambda: int(np.random.randint(0, 1 << 31)), None, seed, api_name=False)
    return generate, inputs, outputs, w_state, seed, send


def _mixing_tab(ex, class_input):
    """Row and column seeds, preset or per-layer weights -> the style-mixing grid."""
    presets = ex.layer_groups()
    with gr.Row():
        rows = gr.Textbox(value="85,100,75", label="Row seeds (take the rest)")
        cols = gr.Textbox(value="55,821,1789", label="Column seeds (give the chosen layers)")
    preset = gr.Radio(presets, value="coarse", label="Layers from the column seeds (preset)")
    gr.Markdown("Per-layer weight: the column seed's share of each w (0 = row seed, 1 = column seed).")
    weights, values = [], ex.layer_weights("coarse")
    num_rows = -(-len(values) // MAX_SLIDERS_PER_ROW)
    per_row = -(-len(values) // num_rows)
    for start in range(0, len(values), per_row):
        with gr.Row():
            for i in range(start, min(start + per_row, len(values))):
                resolution = min(4 * 2 ** ((i + 1) // 2), ex.G.img_resolution)  # w i feeds this resolution
                weights.append(gr.Slider(0.0, 1.0, value=float(values[i]), step=0.05, buttons=[], min_width=100,
                                         label="w%d (%dpx)" % (i, resolution)))
    with gr.Row():
        psi = gr.Slider(-1.0, 2.0, value=0.5, step=0.05, label="Truncation psi")
        noise = gr.Radio([m for m in ex.noise_modes if m != "seeded"], value="const", label="Noise")
    run = gr.Button("Mix", variant="primary")
    grid = gr.Image(label="Grid: column seeds on top, row seeds on the left", height=480, elem_id="mixing-grid",
                    **PIXELS)

    @_readable_errors
    def mix(row_seeds, col_seeds, psi_value, noise_mode, class_idx, *layer_weights):
        return ex.style_mixing(row_seeds, col_seeds, layer_weights, psi_value, noise_mode, class_idx)

    def preset_weights(name):
        return [float(v) for v in ex.layer_weights(name)]

    inputs = [rows, cols, psi, noise, class_input] + weights
    run.click(mix, inputs, grid, api_name="style_mixing")
    preset.input(preset_weights, preset, weights, api_name=False).then(mix, inputs, grid, api_name=False)
    for slider in weights:
        slider.release(mix, inputs, grid, api_name=False, trigger_mode="always_last")


def _editing_tab(ex):
    """SeFa sliders on a latent sent from Generate or Projection; the image follows the sliders."""
    source = gr.Markdown("Nothing to edit yet: use *Edit this image* on the Generate or Projection tab.")
    with gr.Row():
        with gr.Column(scale=1):
            group = gr.Radio(ex.layer_groups(), value="all", label="Layers (SeFa directions of these layers, "
                                                                     "edits applied to them)")
            sliders = [gr.Slider(-EDIT_RANGE, EDIT_RANGE, value=0.0, step=0.25, label="Direction %d" % i,
                                 elem_id="direction-%d" % i) for i in range(NUM_SLIDERS)]
            reset = gr.Button("Reset sliders")
        with gr.Column(scale=2):
            image = gr.Image(label="Edited image", height=320, elem_id="edited", **PIXELS)
    base_w = gr.State(None)

    @_readable_errors
    def edit(w, layer_group, *degrees):
        return ex.edit(w, degrees, layer_group)[0]

    inputs = [base_w, group] + sliders
    # .input: the user's moves only (resets and sends set the sliders and then render once)
    for i, slider in enumerate(sliders):
        slider.input(edit, inputs, image, api_name="edit" if i == 0 else False, trigger_mode="always_last",
                     show_progress="hidden")
    group.input(edit, inputs, image, api_name=False, trigger_mode="always_last")
    reset.click(lambda: [0.0] * NUM_SLIDERS, None, sliders, api_name=False).then(edit, inputs, image, api_name=False)
    return edit, inputs, image, base_w, source, sliders


def _projection_tab(ex, downloads):
    """Upload -> target; projector (steps, space) or encoder -> reconstruction, its w."""
    if ex.vgg16 == "imagenet":
        weights_note = ("VGG16 weights: Keras's ImageNet download (cached in ~/.keras/models). Offline, start "
                        "the demo with --vgg16=PATH to a Keras VGG16 weights file.")
    else:
        weights_note = "VGG16 weights: %s." % (ex.vgg16 if isinstance(ex.vgg16, str) else "given by the caller")
    gr.Markdown("Projection optimises a latent (and the noise inputs) until the network reproduces the image: "
                "the official projector, LPIPS-style distance on VGG16. " + weights_note)
    with gr.Row():
        with gr.Column(scale=1):
            # no file_types: a file that is not an image gets the page's own one-line message
            upload = gr.File(label="Image to project (any format Pillow reads)", type="filepath", elem_id="upload")
            steps = gr.Slider(1, MAX_PROJECTION_STEPS, value=DEFAULT_STEPS, step=1, label="Steps")
            space = gr.Radio(["w", "w+"], value="w", label="Latent space (w: official, one w for all layers)")
            from_encoder = gr.Checkbox(False, label="Start from the encoder's code (w+)", visible=ex.encoder is not None)
            with gr.Row():
                project = gr.Button("Project", variant="primary")
                encode = gr.Button("Encode (one pass)", visible=ex.encoder is not None)
            status = gr.Markdown("")
            send = gr.Button("Edit the result")
        with gr.Column(scale=2):
            with gr.Row():
                target = gr.Image(label="Target", height=256, **PIXELS)
                reconstruction = gr.Image(label="Reconstruction", height=256, elem_id="reconstruction", **PIXELS)
            files = gr.File(label="Download: the reconstruction and its w", file_count="multiple")
    w_state = gr.State(None)

    @_readable_errors
    def show_target(path):
        if not path:
            return None, ""
        _, img, note = ex.load_target(path)
        return img, "Target %dx%d%s." % (img.shape[1], img.shape[0], " (%s)" % note if note else "")

    @_readable_errors
    def run_projection(path, num_steps, space_name, start_from_encoder, progress=gr.Progress()):
        _, target_img, _ = ex.load_target(path)
        num_steps = int(num_steps)
        progress(0, desc="preparing the projector")
        for step, distance, image, w in ex.project(path, num_steps, space_name, max(1, num_steps // 10),
                                                   bool(start_from_encoder)):
            progress((step, num_steps), desc="projecting", unit="steps")
            if image is not None:
                status_text = "Step %d of %d: distance %.4f." % (step, num_steps, distance)
                done = w is not None
                yield (target_img, image, status_text, w if done else None,
                       downloads.write(image, w, "projected") if done else None)

    @_readable_errors
    def run_encoder(path):
        _, target_img, _ = ex.load_target(path)
        image, w = ex.encode(path)
        return target_img, image, "Encoded in one pass.", w, downloads.write(image, w, "encoded")

    upload.change(show_target, upload, [target, status], api_name="load_target")
    outputs = [target, reconstruction, status, w_state, files]
    project.click(run_projection, [upload, steps, space, from_encoder], outputs, api_name="project")
    encode.click(run_encoder, upload, outputs, api_name="encode")
    return w_state, send


def build_demo(ex, network_name, downloads_dir):
    """The page for `ex` (an `Explorer`); `network_name` is shown in the header, downloads are
    written under `downloads_dir`. Returns a `gr.Blocks` (not launched)."""
    downloads = _Downloads(downloads_dir)
    G = ex.G
    with gr.Blocks(title="tf-stylegan2 demo", analytics_enabled=False) as demo:  # no telemetry, no version check
        gr.Markdown("## tf-stylegan2 demo\nNetwork: `%s`: %dx%d, %d channel(s), %d ws of %d%s." % (
            html.escape(network_name), G.img_resolution, G.img_resolution, G.img_channels, G.num_ws, G.w_dim,
            ", %d classes" % G.c_dim if G.c_dim else ""))
        if ex.limitation():
            gr.Markdown(ex.limitation())
        # an unconditional network ignores the class: the hidden dropdown holds 0
        class_input = gr.Dropdown(list(range(max(G.c_dim, 1))), value=0, label="Class (conditional network)",
                                  visible=G.c_dim > 0)
        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id=TAB_IDS[0]):
                generate, gen_inputs, gen_outputs, gen_w, seed, gen_send = _generate_tab(ex, downloads, class_input)
            with gr.Tab("Style mixing", id=TAB_IDS[1]):
                _mixing_tab(ex, class_input)
            with gr.Tab("Editing", id=TAB_IDS[2], interactive=ex.can_edit):
                edit, edit_inputs, edited, base_w, source, sliders = _editing_tab(ex)
            with gr.Tab("Projection", id=TAB_IDS[3], interactive=ex.can_project):
                proj_w, proj_send = _projection_tab(ex, downloads)

        def send(w, description):
            if w is None:
                raise gr.Error("nothing to edit yet", print_exception=False)
            return [w, description, gr.Tabs(selected=TAB_IDS[2])] + [0.0] * NUM_SLIDERS

        to_editing = [base_w, source, tabs] + sliders
        gen_send.click(lambda w, seed_value: send(w, "Editing seed %d from the Generate tab." % int(seed_value)),
                       [gen_w, seed],
                       to_editing, api_name="send_generated").then(edit, edit_inputs, edited, api_name=False)
        proj_send.click(lambda w: send(w, "Editing the projection result."), proj_w, to_editing,
                        api_name="send_projected").then(edit, edit_inputs, edited, api_name=False)
        demo.load(generate, gen_inputs, gen_outputs, api_name=False)
    return demo


def launch(demo, host="127.0.0.1", port=7860, block=True):
    """Serve `demo` at http://host:port/ (never through a share link). With `block`, until Ctrl-C;
    otherwise it returns at once and `demo.close()` stops the server."""
    demo.launch(server_name=host, server_port=port, share=False, quiet=True, css=CSS, prevent_thread_lock=not block)
