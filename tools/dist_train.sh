#!/usr/bin/env bash
# Distributed training with torchrun (GPUs with nccl; without CUDA, CPU processes with gloo).
# Several nodes: run it on each node with NNODES, NODE_RANK, MASTER_ADDR and PORT set.
#   tools/dist_train.sh CONFIG NUM_PROCESSES_PER_NODE [tools/train.py options]
set -euo pipefail
source "$(dirname "$0")/_launch.sh"
usage 2 $# "$0 CONFIG NUM_PROCESSES_PER_NODE [train.py options]"
launch_torchrun "$2" train.py "$1" "${@:3}"
