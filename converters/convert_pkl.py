"""Convert an official StyleGAN2 network pickle to Keras weights and a TF Serving SavedModel.

    python -m converters.convert_pkl --network=stylegan2-ffhq-config-f.pkl --output_dir=out/ffhq [--verify=4]

`--network` takes a path, an http(s):// URL (cached in --cache_dir, default $TF_STYLEGAN2_CACHE or
~/.cache/tf_stylegan2) or a `gdrive:networks/<name>.pkl` alias. The output directory is written
atomically; the app is `tf_stylegan2/apps/convert_pkl.py`.
"""

import tf_stylegan2_startup


def main():
    tf_stylegan2_startup.run_app("tf_stylegan2.apps.convert_pkl")


if __name__ == "__main__":
    main()
