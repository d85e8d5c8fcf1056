"""run_demo.py: the demo's functions (`Explorer`) against the apps' own rendering, its HTTP API
through `gradio_client` on a local server, and the page in a real browser (Chromium + Selenium).

The network is the packaged 32x32 default; the projector's VGG16 is `random_vgg16(0)` (no
download). The browser test needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs
them); outside CI it is skipped when they are missing. With `TF_STYLEGAN2_DEMO_SCREENSHOTS=DIR`
it also saves a screenshot of each tab there (`docs/` holds the README's).
"""

import io
import os
import shutil
import socket
import time
import urllib.request

import numpy as np
import pytest
from PIL import Image

from conftest import assert_uint8_close, fixture_path, load_fixture_networks

import tf_stylegan2 as sg
from tf_stylegan2 import editing, generation
from tf_stylegan2.demo import Explorer
from tf_stylegan2.demo.explorer import MAX_SEED, check_seed, parse_seeds
from tf_stylegan2.encoders import preprocess
from tf_stylegan2.projector import lpips

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCREENSHOTS = os.environ.get("TF_STYLEGAN2_DEMO_SCREENSHOTS")
BROWSER_WAIT = 60  # seconds any one thing in the page may take (a cold CI machine)


@pytest.fixture(scope="module")
def vgg16():
    return lpips.random_vgg16(0)


@pytest.fixture(scope="module")
def explorer(vgg16):
    ex = Explorer(sg.load_network().G_ema, vgg16=vgg16)
    ex.warm_up()
    return ex


@pytest.fixture(scope="module")
def image_file(tmp_path_factory, explorer):
    """A PNG of seed 3 (a target the network can reach) -> path."""
    path = str(tmp_path_factory.mktemp("demo") / "seed3.png")
    Image.fromarray(explorer.generate(3, 0.7, "const")[0]).save(path)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(explorer, tmp_path_factory):
    """The page served on a free 127.0.0.1 port -> its URL; stopped after the module."""
    from tf_stylegan2.demo import ui
    demo = ui.build_demo(explorer, "default", str(tmp_path_factory.mktemp("downloads")))
    ui.launch(demo, port=free_port(), block=False)
    try:
        yield demo.local_url
    finally:
        demo.close()


def test_generate_renders_as_generate_images(explorer):
    G = explorer.G
    for noise_mode in ("seeded", "const"):
        img, w = explorer.generate(17, 0.6, noise_mode)
        (_, expected), = generation.render_seeds(G, [17], 0.6, noise_mode, batch_size=1)
        np.testing.assert_array_equal(img, expected[0])
        np.testing.assert_array_equal(w, generation.seed_ws(G, [17], 0.6)[0])
    assert not np.array_equal(explorer.generate(18, 0.6, "const")[0], explorer.generate(17, 0.6, "const")[0])


def traces(network):
    return sum(fn.experimental_get_tracing_count() for fn in network._compiled._functions.values())


def test_requests_reuse_the_graphs_traced_by_warm_up(explorer):
    G = explorer.G
    before = traces(G.synthesis)
    for seed in (7, 8):
        for noise_mode in explorer.noise_modes:
            explorer.generate(seed, 0.3 + seed / 10, noise_mode)
    for rows, cols in (("1", "2"), ("1-3", "4-6"), ("9", "1-5")):  # 2, 15 and 11 tiles: padded batches
        explorer.style_mixing(rows, cols, np.full(8, 0.5))
    explorer.edit(explorer.generate(9)[1], [1.0, 2.0], "middle")
    assert traces(G.synthesis) == before


def test_conditional_network_takes_the_class():
    G = load_fixture_networks("ada").G_ema  # 3 classes
    ex = Explorer(G)
    img, w = ex.generate(11, 0.8, "const", class_idx=2)
    (_, expected), = generation.render_seeds(G, [11], 0.8, "const", class_idx=2, batch_size=1)
    np.testing.assert_array_equal(img, expected[0])
    assert not np.array_equal(w, ex.generate(11, 0.8, "const", class_idx=0)[1])
    assert ex.can_edit and not ex.can_project and "conditional" in ex.limitation()


def test_bad_input_is_a_readable_value_error(explorer, tmp_path):
    assert check_seed(MAX_SEED) == MAX_SEED and check_seed(5.0) == 5
    assert parse_seeds("1-3, 7", "row seed") == [1, 2, 3, 7]
    for bad, message in [(-1, "seed -1 out of range"), (MAX_SEED + 1, "out of range"), (2.5, "whole number"),
                         (None, "whole number")]:
        with pytest.raises(ValueError, match=message):
            explorer.generate(bad)
    with pytest.raises(ValueError, match="noise mode"):
        explorer.generate(1, 1.0, "loud")
    with pytest.raises(ValueError, match="at most 6"):
        explorer.style_mixing("1-7", "1", [1.0] * 8)
    with pytest.raises(ValueError, match="bad column seed 'x'"):
        explorer.style_mixing("1", "x", [1.0] * 8)
    with pytest.raises(ValueError, match="8 numbers from 0 to 1"):
        explorer.style_mixing("1", "2", [1.5] * 8)
    with pytest.raises(ValueError, match="nothing to edit"):
        explorer.edit(None, [1.0])
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image"):
        explorer.load_target(str(text))
    with pytest.raises(ValueError, match="not a readable image"):
        next(explorer.project(str(text), 5))
    with pytest.raises(ValueError, match="no encoder"):
        explorer.encode(str(text))


def test_style_mixing_grid_is_the_official_one_with_layer_weights(explorer):
    G = explorer.G
    rows, cols = [85, 100, 75], [55, 821]
    grid = explorer.style_mixing("85,100,75", "55,821", explorer.layer_weights("coarse"), 0.5, "const")
    ws = generation.style_mixing_ws(G, rows, cols, range(4), 0.5)
    tiles = {k: generation.render_ws(G, w[np.newaxis], "const")[0] for k, w in ws.items()}
    assert_uint8_close(grid, generation.style_mixing_grid(tiles, rows, cols))
    # weight 0 everywhere: every mix is its row seed; weight 0.5: the latents' midpoint
    zero = explorer.style_mixing("85", "55", np.zeros(8), 0.5, "const")
    assert_uint8_close(zero[32:, 32:], tiles[(85, 85)])
    half = explorer.style_mixing("85", "55", np.full(8, 0.5), 0.5, "const")
    midpoint = generation.render_ws(G, (ws[(85, 85)] + ws[(55, 55)])[np.newaxis] / 2, "const")[0]
    assert_uint8_close(half[32:, 32:], midpoint)


def test_editing_moves_w_along_cached_sefa_directions(explorer):
    G = explorer.G
    assert explorer.layer_groups() == ["all", "coarse", "middle"]  # 8 ws: no fine layers
    directions = explorer.directions("coarse")
    assert explorer.directions("coarse") is directions
    np.testing.assert_array_equal(directions, editing.sefa_directions(G, "coarse")[0])
    img, w = explorer.generate(4, 0.7, "const")
    same, w_same = explorer.edit(w, [0.0] * 6, "coarse")
    np.testing.assert_array_equal(same, img)
    np.testing.assert_array_equal(w_same, w)
    edited_img, edited = explorer.edit(w, [3.0, -2.0], "coarse")
    np.testing.assert_allclose(edited[:4], w[:4] + 3.0 * directions[0] - 2.0 * directions[1], atol=1e-5)
    np.testing.assert_array_equal(edited[4:], w[4:])
    assert np.abs(edited_img.astype(int) - img).mean() > 1  # the image follows


def test_projection_reaches_a_generated_image(explorer, image_file):
    target, target_u8, note = explorer.load_target(image_file)
    assert target.shape == (1, 32, 32, 3) and note is None
    np.testing.assert_array_equal(target_u8, np.asarray(Image.open(image_file)))
    results = list(explorer.project(image_file, 12, "w", preview_every=4))
    assert [r[0] for r in results] == list(range(1, 13))
    assert [r[0] for r in results if r[2] is not None] == [4, 8, 12]
    w = results[-1][3]
    assert w.shape == (8, 128) and all(r[3] is None for r in results[:-1])
    assert results[-1][1] < 0.6 * results[0][1], [r[1] for r in results]
    # the reconstruction shown is the projected w rendered with the projector's noise, which the w alone
    # does not carry: rendered with const noise, it stays close
    assert np.abs(explorer._render(w[np.newaxis])[0].astype(int) - results[-1][2]).mean() < 40


def test_encoder_encodes_and_starts_the_projection(vgg16):
    """With a pSp checkpoint (tests/data/psp, a 32x32 decoder): one-pass codes as `PSPEncoder.encode`
    gives them, rendered by the network; a w+ projection that starts from them."""
    encoder = sg.load_encoder(fixture_path("psp", "psp-narrow.pt"))
    ex = Explorer(encoder.decoder, vgg16=vgg16, encoder=encoder)
    path = fixture_path("psp", "input.png")
    image, w = ex.encode(path)
    expected = encoder.encode(preprocess.read_rgb(path))
    np.testing.assert_array_equal(w, expected[0])
    np.testing.assert_array_equal(image, generation.render_ws(encoder.decoder, expected, "const")[0])
    with pytest.raises(ValueError, match="needs the w\\+ space"):
        next(ex.project(path, 1, "w", from_encoder=True))
    # step 1 runs at learning rate 0 (the ramp-up): the latent is still the encoder's code
    (_, _, _, projected), = ex.project(path, 1, "w+", from_encoder=True)
    np.testing.assert_array_equal(projected, expected[0])


def test_saved_model_is_generation_only(tmp_path):
    """A SavedModel generates and mixes like its Keras network; editing and projection say why not,
    and the page disables their tabs."""
    from tf_stylegan2.demo import ui
    from tf_stylegan2.export.saved_model import export_saved_model
    keras_G = load_fixture_networks("orig").G_ema  # 16x16, 6 ws
    export_saved_model(keras_G, str(tmp_path / "saved_model"))
    ex = Explorer(sg.load_network(str(tmp_path / "saved_model")).G_ema)
    assert ex.noise_modes == ("const", "random") and not ex.can_edit and not ex.can_project
    assert ex.limitation().startswith("This network is a SavedModel: generation and style mixing only.")
    img, w = ex.generate(5, 0.5, "const")
    keras_img, keras_w = Explorer(keras_G).generate(5, 0.5, "const")
    np.testing.assert_allclose(w, keras_w, atol=1e-5)
    assert_uint8_close(img, keras_img)
    assert ex.style_mixing("1,2", "3", [1, 1, 0, 0, 0, 0]).shape == (48, 32, 3)
    with pytest.raises(ValueError, match="noise mode must be one of const, random"):
        ex.generate(5, 0.5, "seeded")
    with pytest.raises(ValueError, match="SavedModel"):
        ex.edit(w, [1.0])
    with pytest.raises(ValueError, match="SavedModel"):
        next(ex.project("any.png"))
    page = ui.build_demo(ex, "saved_model", str(tmp_path))
    tabs = {c["props"]["label"]: c["props"]["interactive"] for c in page.config["components"]
            if c["type"] == "tabitem"}
    assert tabs == {"Generate": True, "Style mixing": True, "Editing": False, "Projection": False}


def test_http_api(explorer, server, image_file, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError
    client = Client(server, verbose=False)
    image, files = client.predict(21, 0.5, "seeded", 0, api_name="/generate")
    expected, w = explorer.generate(21, 0.5, "seeded")
    np.testing.assert_array_equal(np.asarray(Image.open(image)), expected)
    assert sorted(os.path.basename(f) for f in files) == ["seed0021.png", "seed0021_w.npy"]
    np.testing.assert_array_equal(np.load([f for f in files if f.endswith(".npy")][0]), w)
    with pytest.raises(AppError, match="seed 4294967296 out of range"):
        client.predict(MAX_SEED + 1, 0.5, "seeded", 0, api_name="/generate")
    grid = client.predict("1,2", "3", 0.5, "const", 0, *[1.0] * 4 + [0.0] * 4, api_name="/style_mixing")
    assert np.asarray(Image.open(grid)).shape == (96, 64, 3)
    # the session's generated w goes to the editing tab; its API endpoint edits it
    assert client.predict(21, api_name="/send_generated")[0] == "Editing seed 21 from the Generate tab."
    edited = client.predict("all", 4.0, 0, 0, 0, 0, 0, api_name="/edit")
    assert np.abs(np.asarray(Image.open(edited)).astype(int) - expected).mean() > 1
    text = tmp_path / "photo.txt"
    text.write_text("not an image")
    with pytest.raises(AppError, match="not a readable image"):
        client.predict(handle_file(str(text)), api_name="/load_target")
    target, status = client.predict(handle_file(image_file), api_name="/load_target")
    assert status == "Target 32x32." and np.asarray(Image.open(target)).shape == (32, 32, 3)
    target, reconstruction, status, files = client.predict(handle_file(image_file), 5, "w", api_name="/project")
    assert status.startswith("Step 5 of 5: distance ")
    assert np.load([f for f in files if f.endswith(".npy")][0]).shape == (8, 128)
    # after the errors, the server still serves
    assert client.predict(22, 0.5, "const", 0, api_name="/generate")[0]


def browser():
    """A headless Chromium driven by chromium-driver, or a skip (outside CI) saying what is missing."""
    missing = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail("%s missing in CI: .ci/run installs Debian's chromium and chromium-driver" % " and ".join(missing))
        pytest.skip("real-browser test: %s not installed (apt-get install chromium chromium-driver)"
                    % " and ".join(missing))
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def test_page_in_a_real_browser(explorer, server, image_file):
    """Load the page, set a seed, see the image change to that seed's (and, with
    TF_STYLEGAN2_DEMO_SCREENSHOTS, visit every tab and save its screenshot)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    driver = browser()
    try:
        wait = WebDriverWait(driver, BROWSER_WAIT)

        def image_src(elem_id):
            images = driver.find_elements(By.CSS_SELECTOR, "#%s img" % elem_id)
            return images[0].get_attribute("src") if images else None

        def fetched(src):
            with urllib.request.urlopen(src, timeout=BROWSER_WAIT) as resp:
                return np.asarray(Image.open(io.BytesIO(resp.read())))

        driver.get(server)
        first = wait.until(lambda d: image_src("generated"))  # the page renders seed 0 when it loads
        np.testing.assert_array_equal(fetched(first), explorer.generate(0, 0.5, "seeded")[0])
        seed = driver.find_element(By.CSS_SELECTOR, "#seed input")
        seed.send_keys(Keys.CONTROL, "a")
        seed.send_keys("42", Keys.ENTER)
        expected = explorer.generate(42, 0.5, "seeded")[0]

        def shows_seed_42(d):  # typing "42" may show seed 4's image first
            src = image_src("generated")
            return src not in (None, first) and np.array_equal(fetched(src), expected)

        wait.until(shows_seed_42, "the page never showed seed 42's image after the seed was set")
        seed.send_keys(Keys.CONTROL, "a")
        seed.send_keys(str(MAX_SEED + 1), Keys.ENTER)
        wait.until(lambda d: "seed %d out of range" % (MAX_SEED + 1) in d.page_source,
                   "no error message in the page for a seed out of range")
        if SCREENSHOTS:
            save_tab_screenshots(driver, wait, image_src, image_file, SCREENSHOTS)
    finally:
        driver.quit()


def save_tab_screenshots(driver, wait, image_src, image_file, directory):
    """Visit each tab, use it, save `demo-<tab>.png` under `directory`."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def click(text, role=None):
        xpath = "//button[%snormalize-space()='%s']" % ("@role='%s' and " % role if role else "", text)
        wait.until(lambda d: d.find_element(By.XPATH, xpath).is_displayed())
        driver.find_element(By.XPATH, xpath).click()

    def shot(name):
        time.sleep(1)  # let the page settle (progress bars fade)
        driver.save_screenshot(os.path.join(directory, "demo-%s.png" % name))

    os.makedirs(directory, exist_ok=True)
    driver.set_window_size(1280, 1400)  # the style-mixing grid below its controls
    shot("generate")
    click("Style mixing", "tab")
    click("Mix")
    wait.until(lambda d: image_src("mixing-grid"))
    shot("mixing")
    click("Generate", "tab")
    click("Edit this image")
    unedited = wait.until(lambda d: image_src("edited"))
    degree = driver.find_element(By.CSS_SELECTOR, "#direction-0 input[type=number]")
    degree.send_keys(Keys.CONTROL, "a")
    degree.send_keys("6", Keys.ENTER)
    wait.until(lambda d: image_src("edited") not in (None, unedited))
    shot("editing")
    click("Projection", "tab")
    driver.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(image_file)
    click("Project")
    wait.until(lambda d: "Step 200 of 200" in d.page_source)
    shot("projection")
