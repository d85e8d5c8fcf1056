#!/usr/bin/env bash
# The mixed-style recipe end to end on the packaged 32 px emoji network, on the CPU
# (docs/mixed-style-pipeline.md): a second colour style -> fine-tune -> blend -> pairs ->
# pSp encoder -> one-pass style transfer of images the encoder has not seen.
#
#   scripts/mixed_style_pipeline.sh WORK_DIR      # WORK_DIR: new or empty; every result goes there
#
# Sizes (environment variables; the defaults take roughly 10-20 min on a 2-core CPU):
#   STYLE_SEEDS=0-47     seeds of the default network's images that are hue-turned into the style set
#   HUE=180              hue rotation of the style set, degrees
#   FT_KIMG=8 FT_BATCH=8 FT_TICK=1   fine-tuning length (kimg), batch and tick
#   BLEND_RES=16         blend: layers below this resolution from the original, the rest fine-tuned
#   PAIR_SEEDS=0-999     generate-pairs seeds (the encoder's training pairs)
#   TEST_SEEDS=100000-100007   seeds of the images encoded at the end (not among the pairs)
#   ENC_STEPS=300 ENC_BATCH=4 ENC_DEPTHS=16,32,48,64 ENC_LR=1e-3   encoder training
set -euo pipefail
WORK="${1:?usage: scripts/mixed_style_pipeline.sh WORK_DIR}"
STYLE_SEEDS="${STYLE_SEEDS:-0-47}"
HUE="${HUE:-180}"
FT_KIMG="${FT_KIMG:-8}"
FT_BATCH="${FT_BATCH:-8}"
FT_TICK="${FT_TICK:-1}"
BLEND_RES="${BLEND_RES:-16}"
PAIR_SEEDS="${PAIR_SEEDS:-0-999}"
TEST_SEEDS="${TEST_SEEDS:-100000-100007}"
ENC_STEPS="${ENC_STEPS:-300}"
ENC_BATCH="${ENC_BATCH:-4}"
ENC_DEPTHS="${ENC_DEPTHS:-16,32,48,64}"
ENC_LR="${ENC_LR:-1e-3}"

mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
if [ -n "$(ls -A "$WORK")" ]; then
    echo "mixed_style_pipeline: error: $WORK is not empty" >&2
    exit 1
fi
cd "$(dirname "$0")/.."
ORIGINAL=tf_stylegan2/pretrained/emoji32.pkl
last() { ls -d "$@" | tail -n 1; }
step() { echo; echo "== $(date -u +%H:%M:%S) $*"; }

step "1/6 style images: the default network's seeds $STYLE_SEEDS, hue turned $HUE degrees -> dataset"
python run_generator.py generate-images --network="$ORIGINAL" --seeds="$STYLE_SEEDS" --truncation-psi=0.7 \
    --result-dir="$WORK/images"
python scripts/style_example.py rotate-hue --images="$(last "$WORK"/images/*-generate-images)" \
    --degrees="$HUE" --out="$WORK/style-images"
python dataset_tool.py --source="$WORK/style-images" --dest="$WORK/style.zip"

step "2/6 fine-tune $ORIGINAL on the style for $FT_KIMG kimg"
python run_training.py --outdir="$WORK/finetune" --data="$WORK/style.zip" --resume="$ORIGINAL" --cfg=auto \
    --batch="$FT_BATCH" --kimg="$FT_KIMG" --tick="$FT_TICK" --snap=1000 --metrics=none --mirror=1 --aug=ada \
    --augpipe=bg --fp32 --seed=0
FINETUNED="$(last "$WORK"/finetune/*/network-snapshot-*.pkl)"

step "3/6 blend: below ${BLEND_RES}x$BLEND_RES the original, from there on the fine-tuned network"
python run_generator.py blend-networks --network="$ORIGINAL" --high-res-network="$FINETUNED" \
    --resolution="$BLEND_RES" --result-dir="$WORK/blend"
BLENDED="$(last "$WORK"/blend/*-blend-networks)/network"

step "4/6 pairs: seeds $PAIR_SEEDS (training) and $TEST_SEEDS (held out) through original and blended"
python run_generator.py generate-pairs --network="$ORIGINAL" --network-b="$BLENDED" --seeds="$PAIR_SEEDS" \
    --result-dir="$WORK/pairs" --batch-size=16
PAIRS="$(last "$WORK"/pairs/*-generate-pairs)"
python run_generator.py generate-pairs --network="$ORIGINAL" --network-b="$BLENDED" --seeds="$TEST_SEEDS" \
    --result-dir="$WORK/held-out" --batch-size=16
HELD_OUT="$(last "$WORK"/held-out/*-generate-pairs)"

step "5/6 pSp encoder: original images -> codes the blended network renders as the targets ($ENC_STEPS steps)"
python run_encoder_training.py --dataset="$PAIRS" --decoder="$BLENDED" --outdir="$WORK/encoder" \
    --encoder-depths="$ENC_DEPTHS" --batch="$ENC_BATCH" --lr="$ENC_LR" --lpips-lambda=0 --start-from-latent-avg \
    --max-steps="$ENC_STEPS" --board-interval=10 --image-interval="$ENC_STEPS" --val-interval="$ENC_STEPS" \
    --save-interval="$ENC_STEPS"
ENCODER_RUN="$(last "$WORK"/encoder/*-encoder-*)"
CHECKPOINT="$ENCODER_RUN/checkpoints/iteration_$ENC_STEPS.pt"

step "6/6 one pass: encode the held-out original images, decode with the blended network"
python run_encoder.py encode --encoder="$CHECKPOINT" --images="$HELD_OUT/source" --result-dir="$WORK/encode"
ENCODED="$(last "$WORK"/encode/*-encode)"
python scripts/style_example.py grid --out="$WORK/grid.png" --reference=1 \
    --columns="$HELD_OUT/source,$HELD_OUT/target,$ENCODED/*-reconstruction.png"

cat <<EOF

mixed_style_pipeline: done
  style images      $WORK/style-images  (dataset $WORK/style.zip)
  fine-tuned        $FINETUNED
  blended           $BLENDED  (preview: $(dirname "$BLENDED")/preview.png)
  training pairs    $PAIRS
  held-out pairs    $HELD_OUT
  encoder           $CHECKPOINT  (log: $ENCODER_RUN/log.txt)
  encoded           $ENCODED
  grid              $WORK/grid.png  (rows: held-out seeds; columns: original | blended network | encoder)
EOF
