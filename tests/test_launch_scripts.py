"""The shell launchers: Slurm scripts under a stand-in `srun`, usage errors."""
import os
import stat
import subprocess

import pytest

from conftest import DEMO_CONFIG, REPO_ROOT, demo_env

# A stand-in for Slurm's srun: records its arguments, then runs the command as task 0 of 1,
# with the environment srun would give it.
FAKE_SRUN = '''#!/usr/bin/env bash
printf '%s\\n' "$@" > "$SRUN_RECORD"
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do
    case "$1" in -p) shift 2 ;; *) shift ;; esac
done
SLURM_PROCID=0 SLURM_NTASKS=1 SLURM_LOCALID=0 SLURM_NODELIST=localhost exec "$@"
'''


def test_slurm_train_runs_train_py_with_the_slurm_launcher(tmp_path, demo_data):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    record = tmp_path / 'srun_args.txt'
    env = {**demo_env(demo_data['root']), 'PATH': f'{bin_dir}:{os.environ["PATH"]}',
           'SRUN_RECORD': str(record), 'GPUS': '1', 'GPUS_PER_NODE': '1',
           'MASTER_ADDR': '127.0.0.1'}
    env['MASTER_PORT'] = env['PORT']
    work_dir = tmp_path / 'work'
    proc = subprocess.run(
        ['tools/slurm_train.sh', 'gpu_partition', 'demo_job', str(DEMO_CONFIG), str(work_dir),
         '--cfg-options', 'train_cfg.max_iters=2', 'val_cfg=None', 'val_dataloader=None',
         'val_evaluator=None'],
        cwd=REPO_ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
    args = record.read_text().split('\n')
    assert args[:3] == ['-p', 'gpu_partition', '--job-name=demo_job']
    assert '--gres=gpu:1' in args and '--ntasks=1' in args and '--kill-on-bad-exit=1' in args
    assert args[-3:-1] == ['--launcher', 'slurm']
    assert 'Distributed launcher: slurm' in proc.stdout
    assert "using the 'gloo' process-group backend" in proc.stdout
    assert (work_dir / 'iter_2.pth').is_file()


@pytest.mark.parametrize('script,needed', [('dist_train.sh', 2), ('dist_test.sh', 3),
                                           ('slurm_train.sh', 4), ('slurm_test.sh', 4)])
def test_too_few_arguments_print_usage(script, needed):
    proc = subprocess.run([f'tools/{script}'] + ['x'] * (needed - 1), cwd=REPO_ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith('usage: ') and script in proc.stderr
