#!/usr/bin/env bash
# Training under Slurm, one task per GPU:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [tools/train.py options]
set -euo pipefail
source "$(dirname "$0")/_launch.sh"
usage 4 $# "$0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py options]"
launch_slurm "$1" "$2" train.py "$3" --work-dir="$4" "${@:5}"
