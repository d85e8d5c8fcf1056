"""Where networks come from: `load_network(source)` for every kind of source.

A source is
- an official network pickle (path),
- a directory written by the converter (`config.json` + `.weights.h5`),
- a SavedModel directory (a bare one, or the converted directory's `saved_model/`),
- an `http(s)://` URL of a pickle: downloaded once into the cache directory (resumable, checked
  against the announced size),
- an alias naming NVIDIA's CDN copy of a published network:
  `gdrive:networks/<name>.pkl` (the official `run_generator.py`'s StyleGAN2 networks, TF pickles),
  `stylegan2-ada:<path>.pkl` (StyleGAN2-ADA TF pickles, `.../stylegan2-ada/pretrained/<path>.pkl`),
  `stylegan2-ada-pytorch:<path>.pkl` (StyleGAN2-ADA PyTorch snapshots,
  `.../stylegan2-ada-pytorch/pretrained/<path>.pkl`), e.g. `stylegan2-ada-pytorch:metfaces.pkl`,
  `stylegan2-ada:cifar10.pkl`,
  `stylegan2-ada-pytorch:transfer-learning-source-nets/ffhq-res256-mirror-paper256-noaug.pkl`.

Pickles are the official TF `(G, D, Gs)` format (StyleGAN2 and StyleGAN2-ADA) or StyleGAN2-ADA
PyTorch snapshots (read without PyTorch, see `tf_stylegan2.official.torch_pickle`). `torch.save`
files (`.pt`) are rosinality/stylegan2-pytorch checkpoints (`tf_stylegan2.rosinality`).

No source (`None`) means the default network installed with the package (`DEFAULT_NETWORK`): a
32x32 generator of emoji trained by this project (`scripts/train_default_network.sh`), in the
official pickle format.
"""

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request

from tf_stylegan2 import converted, rosinality
from tf_stylegan2.progress import Progress
from tf_stylegan2.export import served
from tf_stylegan2.official.load import Networks, load_pickle
from tf_stylegan2.official.torch_pickle import is_torch_file
from tf_stylegan2.official.unpickler import NetworkPickleError

CACHE_ENV = "TF_STYLEGAN2_CACHE"
DEFAULT_CACHE_DIR = os.path.join("~", ".cache", "tf_stylegan2")
GDRIVE_PREFIX = "gdrive:networks/"
GDRIVE_URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/"
CDN = "https://nvlabs-fi-cdn.nvidia.com/"
ALIASES = {GDRIVE_PREFIX: GDRIVE_URL, "stylegan2-ada:": CDN + "stylegan2-ada/pretrained/",
           "stylegan2-ada-pytorch:": CDN + "stylegan2-ada-pytorch/pretrained/"}
_CHUNK = 1 << 20
DEFAULT_NETWORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pretrained", "emoji32.pkl")


def cache_dir(override=None):
    """The download cache: `override`, else `$TF_STYLEGAN2_CACHE`, else `~/.cache/tf_stylegan2`."""
    return os.path.abspath(os.path.expanduser(override or os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR))


def alias_url(source):
    """An alias (`gdrive:networks/<name>.pkl`, `stylegan2-ada:<path>.pkl`, `stylegan2-ada-pytorch:<path>.pkl`)
    -> its CDN URL; any other string is returned unchanged.

    Raises:
      ValueError: an alias prefix with a malformed name (gdrive: takes `networks/<name>.pkl`; the
        ADA ones `<name>.pkl` or `<folder>/<name>.pkl`).
    """
    scheme = source.split(":", 1)[0] + ":"
    if scheme == "gdrive:":
        name = source[len(GDRIVE_PREFIX):] if source.startswith(GDRIVE_PREFIX) else ""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+\.pkl", name):
            raise ValueError("unknown alias %r: expected gdrive:networks/<name>.pkl" % source)
        return GDRIVE_URL + name
    if scheme not in ALIASES:
        return source
    name = source[len(scheme):]
    if not re.fullmatch(r"([A-Za-z0-9_-][A-Za-z0-9_.-]*/)?[A-Za-z0-9_-][A-Za-z0-9_.-]*\.pkl", name):
        raise ValueError("unknown alias %r: expected %s<name>.pkl or %s<folder>/<name>.pkl" % (source, scheme, scheme))
    return ALIASES[scheme] + name


def is_url(source):
    return bool(re.match(r"^https?://", source, re.IGNORECASE))


def cached_path(url, cache=None):
    """Cache file of `url`: `<cache>/<sha256(url)[:16]>_<basename>`."""
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]) or "download"
    return os.path.join(cache_dir(cache), "%s_%s" % (hashlib.sha256(url.encode("utf-8")).hexdigest()[:16], base))


def _total_size(resp, offset):
    """Full size of the resource from a 200 (Content-Length) or 206 (Content-Range) response."""
    if resp.status == 206:
        m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", resp.headers.get("Content-Range", "").strip())
        if not m or int(m.group(1)) != offset:
            raise OSError("server answered the resume request with a bad Content-Range %r"
                          % resp.headers.get("Content-Range"))
        return int(m.group(3))
    length = resp.headers.get("Content-Length")
    if length is None or not length.isdigit():
        raise OSError("server sent no Content-Length: the download cannot be checked")
    return int(length)


def download(url, dest, progress=True, timeout=60):
    """Download `url` to `dest`, resuming a previous partial `dest + '.part'` with an HTTP Range
    request. `dest` only appears once the whole announced size has arrived.

    Raises:
      OSError: network errors, HTTP errors, missing size, or a size mismatch. A short download
        keeps its `.part` file (the next call resumes); an oversized one is deleted.
    """
    part = dest + ".part"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"Range": "bytes=%d-" % offset} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            if offset and resp.status != 206:
                offset = 0  # the server ignored the Range header: start over
            try:
                total = _total_size(resp, offset)
            except OSError:
                if offset:
                    os.unlink(part)  # the resume does not fit the partial file: start over next time
                raise
            bar = Progress(total=total, desc="download %s" % url.rsplit("/", 1)[-1]) if progress else None
            if bar:
                bar.update(offset)
            with open(part, "ab" if offset else "wb") as f:
                while True:
                    chunk = resp.read(_CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    if bar:
                        bar.update(len(chunk))
            if bar:
                bar.close()
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            os.unlink(part)  # our partial file is not a prefix of the resource any more
        raise OSError("cannot download %s: HTTP %d %s" % (url, e.code, e.reason)) from None
    except (http.client.HTTPException, urllib.error.URLError) as e:
        raise OSError("cannot download %s: %s (run again to resume)" % (url, getattr(e, "reason", None) or
                                                                         type(e).__name__)) from None
    size = os.path.getsize(part)
    if size > total:
        os.unlink(part)
        raise OSError("download of %s is larger than announced (%d > %d bytes)" % (url, size, total))
    if size < total:
        raise OSError("download of %s is incomplete (%d of %d bytes, run again to resume)" % (url, size, total))
    os.replace(part, dest)
    return dest


def resolve(source, cache=None, progress=True):
    """A local path for `source` (None: `DEFAULT_NETWORK`): URLs and aliases are downloaded into the
    cache first (once)."""
    source = alias_url(os.fspath(DEFAULT_NETWORK if source is None else source))
    if not is_url(source):
        return source
    dest = cached_path(source, cache)
    if not os.path.exists(dest):
        download(source, dest, progress=progress)
    return dest


def load_network(source=None, cache_dir=None, progress=False):
    """Load networks from any source (see the module docstring) -> `Networks(G, D, G_ema)`.

    Pickles and converted directories give Keras networks; a SavedModel gives
    `Networks(None, None, SavedModelGenerator)`.

    Args:
      source: path, URL or alias (see the module docstring); None: the packaged default network.
      cache_dir: download cache (default `$TF_STYLEGAN2_CACHE` or `~/.cache/tf_stylegan2`).
      progress: show a progress bar on stderr while reading a pickle (downloads always show one).
    Raises:
      NetworkPickleError (a ValueError): unreadable, unsafe or unsupported network.
      OSError: download failures.
    """
    path = resolve(source, cache_dir)
    if os.path.isdir(path):
        if converted.is_converted_dir(path):
            return converted.load(path)
        if served.is_saved_model_dir(path):
            return Networks(G=None, D=None, G_ema=served.SavedModelGenerator(path))
        raise NetworkPickleError("%s is a directory, but neither a converted network (config.json) nor a "
                                 "SavedModel (saved_model.pb)" % path)
    if is_torch_file(path):
        return rosinality.load_checkpoint(path)
    return load_pickle(path, progress=progress)
