# Sourced by the launch scripts (dist_*.sh, slurm_*.sh, run_demo.sh).
#
# Every job runs through run_job (below): no process of it outlives the command, signals reach it
# once, and a preempted run exits 75 (docs/fault_tolerance.md).
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
    # torchrun gives several processes per node OMP_NUM_THREADS=1 when it is unset, announcing it
    # in a banner on every launch; the same default set here goes without the banner.
    if [ -z "${OMP_NUM_THREADS:-}" ] && [[ "$nproc" =~ ^[0-9]+$ ]] && [ "$nproc" -gt 1 ]; then
        export OMP_NUM_THREADS=1
    fi
    run_job "$PYTHON" -m torch.distributed.run \
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
    run_job srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$gpus_per_node" \
        --ntasks="$gpus" \
        --ntasks-per-node="$gpus_per_node" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$REPO_ROOT/tools/$script" "$@" --launcher slurm
}

# The exit status of a preempted run whose checkpoint was saved (EX_TEMPFAIL; PreemptionHook).
PREEMPTED_EXIT_CODE=75

# run_job COMMAND ARGS...: run a launcher (torchrun, srun) as this script's job.
# * It runs in a process group of its own: SIGTERM, SIGINT, SIGHUP and SIGUSR1 sent to this script
#   are forwarded to it once (torchrun is told to forward SIGUSR1 to the ranks too).
# * Every process of the job carries MMDET_DROPLOSS_JOB=<id unique to this call> in its
#   environment. When the launcher has exited, for whatever reason (a rank failed, the launcher
#   was SIGKILLed), whatever still carries the id is killed: torchrun starts each rank in a session
#   of its own, so no process group holds them all.
# * The PreemptionHook of rank 0 writes "<iteration> <checkpoint>" to MMDET_DROPLOSS_PREEMPT_FILE;
#   if it did, the job was preempted and saved: exit 75 (torchrun itself would exit 1).
# Returns the launcher's exit status (75 after a preemption save), with a line saying why.
run_job() {
    local tool job_id status_file pid rc=0 leftover
    tool=$(basename "$0")
    job_id="$$-$(date +%s%N)-$RANDOM"
    status_file=$(mktemp "${TMPDIR:-/tmp}/mmdet_droploss_preempt.XXXXXX")
    set -m  # the job gets a process group of its own (no terminal signal reaches it twice)
    MMDET_DROPLOSS_JOB="$job_id" MMDET_DROPLOSS_PREEMPT_FILE="$status_file" \
        TORCHELASTIC_SIGNALS_TO_HANDLE="${TORCHELASTIC_SIGNALS_TO_HANDLE:-SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1}" \
        "$@" &
    pid=$!
    set +m
    local sig
    for sig in TERM INT HUP USR1; do
        # shellcheck disable=SC2064
        trap "echo '$tool: SIG$sig received, passed on to the job (pid $pid)' >&2; kill -s $sig $pid 2>/dev/null || true" "$sig"
    done
    while kill -0 "$pid" 2>/dev/null; do
        wait "$pid" || true  # returns early when a trapped signal arrives
    done
    wait "$pid" || rc=$?  # the launcher's own exit status
    trap - TERM INT HUP USR1
    leftover=$(_job_processes "$job_id")
    if [ -n "$leftover" ]; then
        # shellcheck disable=SC2086
        kill -KILL $leftover 2>/dev/null || true
        echo "$tool: killed processes of the job left behind by the launcher: $leftover" >&2
    fi
    if [ -s "$status_file" ]; then
        local iteration checkpoint
        read -r iteration checkpoint < "$status_file"
        echo "$tool: preempted at iteration $iteration, checkpoint saved: $checkpoint." \
            "Exit status $PREEMPTED_EXIT_CODE; continue with --resume." >&2
        rc=$PREEMPTED_EXIT_CODE
    elif [ "$rc" -gt 128 ]; then
        echo "$tool: the launcher ($1, pid $pid) was killed by signal" \
            "$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128))) (exit status $rc)." >&2
    elif [ "$rc" -ne 0 ]; then
        echo "$tool: the job failed (launcher exit status $rc); the launcher's report above" \
            "names the failed rank and its exit code or signal." >&2
    fi
    rm -f "$status_file"
    return "$rc"
}

# _job_processes JOB_ID: pids of the processes whose environment has MMDET_DROPLOSS_JOB=JOB_ID.
_job_processes() {
    grep -lsxzF "MMDET_DROPLOSS_JOB=$1" /proc/[0-9]*/environ 2>/dev/null |
        sed -e 's|^/proc/||' -e 's|/environ$||' | grep -vx -e "$$" -e "${BASHPID:-$$}" | tr '\n' ' ' |
        sed 's/ *$//' || true
}

# usage MIN_ARGS GIVEN_ARGS TEXT: print the usage line and exit when too few arguments are given.
usage() {
    if [ "$2" -lt "$1" ]; then
        echo "usage: $3" >&2
        exit 2
    fi
}
