#!/usr/bin/env python
"""The built-in loss benchmark: BCE, EQL, BEQL, the fixed drop ratio and DropLoss, 3 seeds each,
on the synthetic long-tailed set in LVIS's regime, with one report.

    python tools/benchmark.py [--out work_dirs/benchmark] [--methods bce droploss eqlv2 ...]
                              [--seeds 3 | --seeds 0 1 2] [--nproc 2] [--quick] [--no-fixed-ap]
    make benchmark

Steps: write the data set (``mmdet_droploss.datasets.lvis_regime``) unless present; train and
evaluate every (method, seed) run with ``tools/dist_train.sh`` (finished runs are skipped, so an
interrupted benchmark resumes where it stopped); test each final model again for AP-Fixed
(``tools/test.py``, per-image cap lifted); score background proposals with the BCE and
DropLoss models (paper Fig. 1b); check the paper's preconditions on the BCE runs; write
``report.md`` (table, preconditions, figures), ``results.csv`` and the plots to ``--out``.
Every method uses the same config but for ``loss_cls``. ``--quick`` checks the whole pipeline in
minutes (1 seed, 20 iterations, 40 validation images): its numbers mean nothing.
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from mmdet_droploss.benchmark import (DEFAULT_METHODS, METHODS, check_preconditions,  # noqa: E402
                                      plan_runs, write_report)
from mmdet_droploss.datasets.lvis_regime import (VAL_ANN, LVISRegimeSpec,  # noqa: E402
                                                 generate_lvis_regime)

QUICK_SPEC = dict(num_val_images=40, min_val_images_rare=2)
QUICK_OPTIONS = ['train_cfg.max_iters=20', 'train_cfg.val_interval=20',
                 'param_scheduler.0.end=10', 'param_scheduler.1.milestones=[16]',
                 'param_scheduler.1.end=20', 'default_hooks.checkpoint.interval=20',
                 'custom_hooks.1.interval=10', 'default_hooks.logger.interval=10']
SCORED_IMAGES = 120  # validation images scored for Fig. 1b
# AP-Fixed (Dave et al. 2021): LVIS's K = 10,000 detections per category over v1 val's 19,809
# images, scaled to the benchmark's validation split; the per-image cap lifted to 1000.
LVIS_V1_VAL_IMAGES = 10000, 19809
FIXED_AP_MAX_PER_IMG = 1000
FIGURE_METHODS = ('bce', 'droploss')  # Fig. 1a / 1b are drawn for these, as in the paper


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', help='report and runs directory (default: '
                        'work_dirs/benchmark, or work_dirs/benchmark_quick with --quick)')
    parser.add_argument('--data', help='data set directory (default: data/lvis_regime, or '
                        'data/lvis_regime_quick with --quick)')
    parser.add_argument('--methods', nargs='+', default=list(DEFAULT_METHODS),
                        choices=list(METHODS),
                        help="default: the paper's five; eqlv2 and federated on request")
    parser.add_argument('--seeds', nargs='+', type=int,
                        help='seed values, or one number N for seeds 0..N-1 (default 3; 1 with '
                        '--quick)')
    parser.add_argument('--nproc', type=int, default=2, help='processes per run (default 2)')
    parser.add_argument('--quick', action='store_true', help='a minutes-long pipeline check')
    parser.add_argument('--no-fixed-ap', action='store_true',
                        help='skip the AP-Fixed test pass (about 2.5 min per run on 2 cores)')
    args = parser.parse_args(argv)
    seeds = args.seeds or [1 if args.quick else 3]
    args.seeds = list(range(seeds[0])) if len(seeds) == 1 else seeds
    args.out = args.out or ('work_dirs/benchmark_quick' if args.quick else 'work_dirs/benchmark')
    args.data = args.data or ('data/lvis_regime_quick' if args.quick else 'data/lvis_regime')
    return args


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f'{minutes // 60}:{minutes % 60:02d}:{secs:02d}'


def train(run, args, env) -> None:
    """One run through tools/dist_train.sh; its output goes to <work_dir>/train.log, progress
    lines to the console."""
    os.makedirs(run.work_dir, exist_ok=True)
    options = [f'randomness.seed={run.seed}'] + (QUICK_OPTIONS if args.quick else [])
    cmd = ['bash', osp.join(REPO_ROOT, 'tools/dist_train.sh'), osp.join(REPO_ROOT, run.config),
           str(args.nproc), '--work-dir', run.work_dir, '--resume', '--cfg-options', *options]
    log_path = osp.join(run.work_dir, 'train.log')
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=env, cwd=REPO_ROOT)
        for line in proc.stdout:
            log.write(line)
            if 'Iter(train)' in line and ('00/' in line.split('[')[-1] or args.quick):
                print('    ' + line.split(' - ')[-1].strip()[:150], flush=True)
        code = proc.wait()
    if code != 0:
        tail = open(log_path).read().splitlines()[-30:]
        raise SystemExit(f'{run.method} seed {run.seed} failed (exit {code}); log: {log_path}\n'
                         + '\n'.join(tail))


def background_scores(run, args, env) -> None:
    if osp.isfile(osp.join(run.work_dir, 'background_scores.json')):
        return
    subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/analyze_background_scores.py'),
                    osp.join(REPO_ROOT, run.config), run.checkpoint, '--out', run.work_dir,
                    '--max-images', str(SCORED_IMAGES)],
                   env=env, check=True, stdout=subprocess.DEVNULL)


def fixed_ap_budget(val_ann: str) -> int:
    with open(val_ann) as f:
        num_images = len(json.load(f)['images'])
    per_class, lvis_images = LVIS_V1_VAL_IMAGES
    return max(1, round(per_class * num_images / lvis_images))


def evaluate_fixed_ap(run, budget: int, env) -> None:
    """Test the run's final checkpoint again with the per-image cap lifted and AP-Fixed on
    (standard AP is computed too, from each image's 300 best); skipped once recorded."""
    from mmdet_droploss.analysis.results import last_lvis_record
    if 'lvis/segm_AP_fixed' in (last_lvis_record(run.work_dir) or {}):
        return
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools/test.py'), osp.join(REPO_ROOT, run.config),
           run.checkpoint, '--work-dir', run.work_dir, '--cfg-options',
           f'model.test_cfg.rcnn.max_per_img={FIXED_AP_MAX_PER_IMG}',
           f'test_evaluator.fixed_ap={budget}']
    with open(osp.join(run.work_dir, 'test_fixed_ap.log'), 'w') as log:
        subprocess.run(cmd, env=env, check=True, stdout=log, stderr=subprocess.STDOUT,
                       cwd=REPO_ROOT)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.time()
    env = {**os.environ, 'MMDET_DROPLOSS_BENCH_DATA': osp.abspath(args.data) + '/',
           'PYTHONPATH': REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')}
    if not osp.isfile(osp.join(args.data, VAL_ANN)):
        spec = LVISRegimeSpec()
        if args.quick:
            spec = dataclasses.replace(spec, **QUICK_SPEC)
        print(f'writing the LVIS-regime data set to {args.data}', flush=True)
        generate_lvis_regime(args.data, spec)

    runs = plan_runs(args.out, args.methods, args.seeds)
    seconds = {r: r.record()['seconds'] for r in runs if r.record() is not None}
    todo = [r for r in runs if r not in seconds]
    print(f'{len(runs)} runs ({len(runs) - len(todo)} already finished, skipped); '
          f'methods {args.methods}, seeds {args.seeds}, {args.nproc} processes each', flush=True)
    done_now = []
    for k, run in enumerate(todo):
        print(f'[{len(runs) - len(todo) + k + 1}/{len(runs)}] {run.label}, seed {run.seed} '
              f'-> {run.work_dir}', flush=True)
        t0 = time.time()
        train(run, args, env)
        elapsed = time.time() - t0
        run.mark_done(elapsed)
        seconds[run] = elapsed
        done_now.append(elapsed)
        eta = sum(done_now) / len(done_now) * (len(todo) - k - 1)
        print(f'    done in {clock(elapsed)}; benchmark time {clock(time.time() - start)}, '
              f'ETA {clock(eta)}', flush=True)

    budget = fixed_ap_budget(osp.join(args.data, VAL_ANN))
    for run in runs if not args.no_fixed_ap else []:
        print(f'AP-Fixed (K = {budget} per category): {run.label}, seed {run.seed}', flush=True)
        evaluate_fixed_ap(run, budget, env)
    figures = {}
    for run in runs:
        if run.method in FIGURE_METHODS:
            print(f'background scores: {run.label}, seed {run.seed}', flush=True)
            background_scores(run, args, env)
    for method in FIGURE_METHODS:
        first = next((r for r in runs if r.method == method), None)
        if first is None:
            continue
        label = METHODS[method][1]
        grad_png = osp.join(args.out, f'gradient_stats_{method}.png')
        subprocess.run([sys.executable, osp.join(REPO_ROOT, 'tools/plot_gradient_stats.py'),
                        first.work_dir, '--out', grad_png], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        figures[f'Fig. 1a: gradient from background, {label} (seed {first.seed})'] = grad_png
        scores_png = osp.join(first.work_dir, 'background_scores.png')
        figures[f'Fig. 1b: scores on background proposals, {label} (seed {first.seed})'] = \
            scores_png
    criteria = check_preconditions([r.work_dir for r in runs if r.method == 'bce'])
    command = 'python tools/benchmark.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    report = write_report(args.out, runs, criteria, seconds, time.time() - start,
                          command.strip(), figures)
    print('\n' + report)
    print(f'\nBenchmark finished in {clock(time.time() - start)}; report: '
          f'{osp.join(args.out, "report.md")}')


if __name__ == '__main__':
    main()
