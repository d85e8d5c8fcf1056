#!/usr/bin/env bash
# Rebuild the packaged default network (tf_stylegan2/pretrained/emoji32.pkl) with one command:
# render the Noto Color Emoji glyphs, make the dataset with dataset_tool.py, train with
# run_training.py (ADA), measure the pixel-FD curve, copy the last snapshot into the package.
#
#   scripts/train_default_network.sh            # WORK=results/default-network KIMG=<shipped kimg>
#
# Needs the font (Debian/Ubuntu: apt-get install fonts-noto-color-emoji). Run it again after an
# interruption (Ctrl-C, SIGKILL, reboot): an existing run directory is resumed in place.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${WORK:-results/default-network}"
KIMG="${KIMG:-343}"
DATA="$WORK/emoji32.zip"

if [ ! -e "$DATA" ]; then
    [ -d "$WORK/emoji-png" ] || python scripts/make_emoji_images.py --out="$WORK/emoji-png" --size=32
    python dataset_tool.py --source="$WORK/emoji-png" --dest="$DATA"
fi

RUN="$(ls -d "$WORK"/runs/*-emoji32-* 2>/dev/null | tail -n 1 || true)"
python run_training.py --data="$DATA" --outdir="$WORK/runs" ${RUN:+--resume="$RUN"} \
    --cfg=auto --cbase=4096 --cmax=96 --map=2 --z-dim=128 --w-dim=128 --batch=32 \
    --kimg="$KIMG" --tick=2 --snap=5 --metrics=none --aug=ada --mirror=1 --seed=0 --fp32
RUN="$(ls -d "$WORK"/runs/*-emoji32-* | tail -n 1)"

PYTHONPATH=. python scripts/pixel_fd_curve.py --run="$RUN" --data="$DATA" --every=4
LAST="$(ls "$RUN"/network-snapshot-*.pkl | tail -n 1)"
cp "$LAST" tf_stylegan2/pretrained/emoji32.pkl.tmp
mv tf_stylegan2/pretrained/emoji32.pkl.tmp tf_stylegan2/pretrained/emoji32.pkl
echo "default network: $LAST -> tf_stylegan2/pretrained/emoji32.pkl"
