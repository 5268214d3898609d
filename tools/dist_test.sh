#!/usr/bin/env bash
# Distributed evaluation with torchrun (GPUs with nccl; without CUDA, CPU processes with gloo).
#   tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCESSES_PER_NODE [tools/test.py options]
# CHECKPOINT is a path, a URL or a model-zoo name.
set -euo pipefail
source "$(dirname "$0")/_launch.sh"
usage 3 $# "$0 CONFIG CHECKPOINT NUM_PROCESSES_PER_NODE [test.py options]"
launch_torchrun "$3" test.py "$1" "$2" "${@:4}"
