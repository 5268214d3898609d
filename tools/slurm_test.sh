#!/usr/bin/env bash
# Evaluation under Slurm, one task per GPU:
#   [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [tools/test.py options]
set -euo pipefail
source "$(dirname "$0")/_launch.sh"
usage 4 $# "$0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py options]"
launch_slurm "$1" "$2" test.py "$3" "$4" "${@:5}"
