# Sourced by the launch scripts (dist_*.sh, slurm_*.sh, run_demo.sh).
#
# The interpreter: $PYTHON if set; otherwise the repository's .venv/ (made by `make setup`) when
# no virtual environment is active; otherwise `python`.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -z "${VIRTUAL_ENV:-}" ] && [ -x "$REPO_ROOT/.venv/bin/python" ]; then
        PYTHON="$REPO_ROOT/.venv/bin/python"
    else
        PYTHON=python
    fi
fi
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"

# launch_torchrun NPROC_PER_NODE SCRIPT ARGS...: one process per GPU (or per CPU slot with gloo
# when there is no GPU); several nodes through NNODES, NODE_RANK, MASTER_ADDR and PORT.
launch_torchrun() {
    local nproc=$1 script=$2
    shift 2
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --master_port="${PORT:-29500}" \
        --nproc_per_node="$nproc" \
        "$REPO_ROOT/tools/$script" "$@" --launcher pytorch
}

# launch_slurm PARTITION JOB_NAME SCRIPT ARGS...: one Slurm task per GPU, GPUS tasks in all,
# GPUS_PER_NODE per node; CPUS_PER_TASK and SRUN_ARGS are passed to srun.
launch_slurm() {
    local partition=$1 job_name=$2 script=$3
    shift 3
    local gpus=${GPUS:-8} gpus_per_node=${GPUS_PER_NODE:-8}
    # shellcheck disable=SC2086
    srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="$gpus" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$REPO_ROOT/tools/$script" "$@" --launcher slurm
}

# usage MIN_ARGS GIVEN_ARGS TEXT: print the usage line and exit when too few arguments are given.
usage() {
    if [ "$2" -lt "$1" ]; then
        echo "usage: $3" >&2
        exit 2
    fi
}
