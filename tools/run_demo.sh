#!/usr/bin/env bash
# The main job on the built-in default data (no download): generate the synthetic long-tailed
# LVIS-format dataset, train the tiny Mask R-CNN with DropLoss on 2 CPU processes (gloo) through
# tools/dist_train.sh, and evaluate the final model with LVIS AP (APr/APc/APf), bbox and segm.
#   tools/run_demo.sh [extra tools/train.py options]
#   env: NPROC (2), WORK_DIR (work_dirs/demo_droploss), MMDET_DROPLOSS_DEMO_DATA (data/demo_lvis/),
#        CONFIG (configs/demo/mask_rcnn_tiny_droploss_demo.py), PORT (29510)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/_launch.sh

CONFIG=${CONFIG:-configs/demo/mask_rcnn_tiny_droploss_demo.py}
NPROC=${NPROC:-2}
WORK_DIR=${WORK_DIR:-work_dirs/demo_droploss}
export MMDET_DROPLOSS_DEMO_DATA=${MMDET_DROPLOSS_DEMO_DATA:-data/demo_lvis/}
export PORT=${PORT:-29510}

if [ ! -f "$MMDET_DROPLOSS_DEMO_DATA/annotations/lvis_demo_val.json" ]; then
    "$PYTHON" tools/generate_demo_dataset.py --out "$MMDET_DROPLOSS_DEMO_DATA"
fi

start=$(date +%s)
# Training ends with an LVIS evaluation of the final model (val_interval = max_iters).
tools/dist_train.sh "$CONFIG" "$NPROC" --work-dir "$WORK_DIR" "$@"
echo
echo "Demo finished in $(( $(date +%s) - start )) s. Checkpoints and logs: $WORK_DIR"
echo "Evaluate again: tools/dist_test.sh $CONFIG $WORK_DIR/$(cat "$WORK_DIR/last_checkpoint" | xargs basename) $NPROC"
