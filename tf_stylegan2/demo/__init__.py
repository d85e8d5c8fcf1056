"""The demo: a local web page over one network (`run_demo.py`).

`explorer` holds the work (no web framework); `ui` builds the Gradio page (the `demo` extra);
`app` is the absl app.
"""

from tf_stylegan2.demo.explorer import Explorer

__all__ = ["Explorer"]
