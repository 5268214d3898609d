#!/usr/bin/env python
"""The loss benchmark: calibration methods, then held-out ones, 3 seeds each, one report.

Calibration: the methods whose LVIS ranking is published (BCE, EQL, BCE + RFS, EQL + RFS, EQLv2,
GOL's Gumbel); held out: DropLoss, DropLoss + RFS, BEQL, the fixed drop ratio.

    python tools/benchmark.py [--design NAME] [--out DIR] [--methods bce eql ...]
                              [--seeds 3 | --seeds 0 1 2] [--report-only] [--quick]
    make benchmark

Two kinds of design (docs/benchmark.md):
- the LVIS-scale RoI simulator (``mmdet_droploss.benchmark.sim_designs``; the default,
  ``roi_v1e``, is frozen and calibrated): the box head's classifier trained on simulated RoIs at
  LVIS's own category counts, in this process, ``--loss``/``--import`` adding a loss of your own;
- the image benchmark (``mmdet_droploss.benchmark.designs``; not validated): a tiny Mask R-CNN on a
  synthetic long-tailed image set (``mmdet_droploss.datasets.lvis_regime``, written unless
  present), every run through ``tools/dist_train.sh`` and ``tools/test.py`` (AP-Fixed), with
  Fig. 1a/1b from the BCE and DropLoss models.

A design is searched on the calibration methods only; held-out methods run on a frozen design
(``--allow-held-out``: on another, and the report says so). Finished runs are skipped (resumable);
every method has the same recipe but for ``loss_cls`` (and RFS). ``--quick`` checks a pipeline in
minutes (the image benchmark's unless ``--design`` names a simulator's); numbers mean nothing.
"""
import argparse
import dataclasses
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import time

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from mmdet_droploss.benchmark import (CALIBRATION_METHODS, DEFAULT_METHODS,  # noqa: E402
                                      DESIGNS, FROZEN_DESIGN, HELD_OUT_METHODS, METHODS,
                                      check_preconditions, plan_runs, write_report)
from mmdet_droploss.benchmark.sim_designs import DEFAULT_SIM_DESIGN, SIM_DESIGNS  # noqa: E402
from mmdet_droploss.datasets.lvis_regime import VAL_ANN, generate_lvis_regime  # noqa: E402
from mmdet_droploss.third_party_notices import hide_third_party_notices  # noqa: E402

# --quick: the kinds of run there are (plain, RFS-wrapped, C + 1 logits, a held-out figure method)
QUICK_METHODS = ('bce', 'bce_rfs', 'eqlv2', 'droploss')
QUICK_SPEC = dict(num_val_images=40, min_val_images_rare=2)
QUICK_OPTIONS = ['train_cfg.max_iters=20', 'train_cfg.val_interval=20',
                 'param_scheduler.0.end=10', 'param_scheduler.1.milestones=[16]',
                 'param_scheduler.1.end=20', 'default_hooks.checkpoint.interval=20',
                 'custom_hooks.1.interval=10', 'default_hooks.logger.interval=10']
# --quick checks the pipeline, whose numbers mean nothing, on the smallest design's set
QUICK_DESIGN = 'issue10'
SCORED_IMAGES = 120  # validation images scored for Fig. 1b
# AP-Fixed (Dave et al. 2021): LVIS's K = 10,000 detections per category over v1 val's 19,809
# images, scaled to the benchmark's validation split; the per-image cap lifted to 1000.
LVIS_V1_VAL_IMAGES = 10000, 19809
FIXED_AP_MAX_PER_IMG = 1000
FIGURE_METHODS = ('bce', 'droploss')  # Fig. 1a / 1b are drawn for these, as in the paper


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', help='report and runs directory (default: '
                        'work_dirs/benchmark_sim[_quick]/DESIGN for the simulator, '
                        'work_dirs/benchmark/DESIGN or work_dirs/benchmark_quick[_DESIGN])')
    parser.add_argument('--data', help='image benchmark: the data set directory (default: '
                        'data/lvis_regime[_quick][_DESIGN])')
    parser.add_argument('--design', choices=list(DESIGNS) + list(SIM_DESIGNS),
                        help=f'simulator roi_v1*, or image benchmark (default: the simulator\'s '
                        f'frozen {DEFAULT_SIM_DESIGN}; with --quick, {QUICK_DESIGN})')
    parser.add_argument('--methods', nargs='+',
                        help='default: calibration and held-out methods on the frozen design, '
                        'the calibration methods on any other; federated on request. Image '
                        f'benchmark: {list(METHODS)}; simulator: see roi_sim/methods.py')
    parser.add_argument('--allow-held-out', action='store_true',
                        help='run held-out methods on a design that is not the frozen one')
    parser.add_argument('--seeds', nargs='+', type=int,
                        help='seed values, or one number N for seeds 0..N-1 (default 3; 1 with '
                        '--quick)')
    parser.add_argument('--nproc', type=int, default=2, help='processes per run (default 2)')
    parser.add_argument('--quick', action='store_true', help='a minutes-long pipeline check')
    parser.add_argument('--report-only', action='store_true',
                        help='train nothing: report the runs that have finished')
    parser.add_argument('--loss', help='simulator only: a loss of your own as a method, e.g. '
                        '"dict(type=\'MyLoss\', num_classes=1203, categories=\'lvis_v1\')" '
                        '(its module imported with --import)')
    parser.add_argument('--import', dest='imports', nargs='+', default=[],
                        help='modules to import first (they register your loss)')
    parser.add_argument('--no-fixed-ap', action='store_true',
                        help='skip the AP-Fixed test pass (about 2.5 min per run on 2 cores)')
    args = parser.parse_args(argv)
    seeds = args.seeds or [1 if args.quick else 3]
    if len(seeds) == 1 and seeds[0] < 1:
        parser.error(f'--seeds {seeds[0]} selects no run: one number N means seeds 0..N-1. '
                     'For seed 0 alone, pass --seeds 1; for other seed values, list two or '
                     'more (--seeds 0 1 2).')
    args.seeds = list(range(seeds[0])) if len(seeds) == 1 else seeds
    if args.design is None and not args.quick:
        args.design = DEFAULT_SIM_DESIGN  # the calibrated benchmark
    if args.design in SIM_DESIGNS:
        return simulator_args(parser, args)
    args.design = args.design or QUICK_DESIGN  # None only with --quick
    suffix = '' if args.design == 'issue10' else f'_{args.design}'
    args.out = args.out or (f'work_dirs/benchmark_quick{suffix}' if args.quick else
                            f'work_dirs/benchmark/{args.design}')
    args.data = args.data or (f'data/lvis_regime_quick{suffix}' if args.quick else
                              f'data/lvis_regime{suffix}')
    unknown = [m for m in args.methods or () if m not in METHODS]
    if unknown:
        parser.error(f'{unknown} are not methods of the image benchmark: choose from '
                     f'{list(METHODS)}')
    frozen = args.design == FROZEN_DESIGN
    args.methods = args.methods or list(
        QUICK_METHODS if args.quick else DEFAULT_METHODS if frozen else CALIBRATION_METHODS)
    held_out = [m for m in args.methods if m in HELD_OUT_METHODS]
    if held_out and not frozen and not (args.allow_held_out or args.quick):
        parser.error(f'{held_out} are held out: they run only on the frozen design '
                     f'({FROZEN_DESIGN or "none frozen yet"}), never on a design being searched '
                     f'("{args.design}"). Pass --allow-held-out to run them anyway (the report '
                     'then compares them on an uncalibrated design).')
    return args


def simulator_args(parser, args) -> argparse.Namespace:
    """The simulator's runs: its own methods (``mmdet_droploss.roi_sim.methods``)."""
    import importlib

    from mmdet_droploss.benchmark.sim_designs import simulator_methods
    for module in args.imports:
        importlib.import_module(module)
    try:
        args.methods = simulator_methods(args.design, args.methods, args.loss,
                                         args.allow_held_out, args.quick)
    except ValueError as err:
        parser.error(str(err))
    args.simulator = True
    args.out = args.out or f'work_dirs/benchmark_sim{"_quick" if args.quick else ""}/{args.design}'
    return args


def clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f'{minutes // 60}:{minutes % 60:02d}:{secs:02d}'


def free_port() -> str:
    """A TCP port nothing listens on now: the launcher's default (29500) is taken by any other
    distributed job on the machine, and the run would fail to start."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return str(sock.getsockname()[1])


def train(run, args, env) -> None:
    """One run through tools/dist_train.sh; its output goes to <work_dir>/train.log, progress
    lines to the console. ``PORT`` in the environment is used as given; otherwise each run
    gets a free one."""
    os.makedirs(run.work_dir, exist_ok=True)
    env = env if env.get('PORT') else {**env, 'PORT': free_port()}
    options = ([f'randomness.seed={run.seed}'] + list(DESIGNS[args.design].train_options(
        run.uses_rfs)) + (QUICK_OPTIONS if args.quick else []))
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
                    '--max-images', str(SCORED_IMAGES),
                    *design_cfg_options(args)],
                   env=env, check=True, stdout=subprocess.DEVNULL)


def fixed_ap_budget(val_ann: str) -> int:
    with open(val_ann) as f:
        num_images = len(json.load(f)['images'])
    per_class, lvis_images = LVIS_V1_VAL_IMAGES
    return max(1, round(per_class * num_images / lvis_images))


def design_cfg_options(args) -> list:
    options = list(DESIGNS[args.design].test_options())
    return ['--cfg-options', *options] if options else []


def git_commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO_ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ''


def evaluate_fixed_ap(run, budget: int, env, args) -> None:
    """Test the run's final checkpoint again with the per-image cap lifted and AP-Fixed on
    (standard AP is computed too, from each image's 300 best); skipped once recorded."""
    from mmdet_droploss.analysis.results import last_lvis_record
    if 'lvis/segm_AP_fixed' in (last_lvis_record(run.work_dir) or {}):
        return
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools/test.py'), osp.join(REPO_ROOT, run.config),
           run.checkpoint, '--work-dir', run.work_dir, '--cfg-options',
           *DESIGNS[args.design].test_options(),
           f'model.test_cfg.rcnn.max_per_img={FIXED_AP_MAX_PER_IMG}',
           f'test_evaluator.fixed_ap={budget}']
    with open(osp.join(run.work_dir, 'test_fixed_ap.log'), 'w') as log:
        subprocess.run(cmd, env=env, check=True, stdout=log, stderr=subprocess.STDOUT,
                       cwd=REPO_ROOT)


def main(argv=None) -> None:
    hide_third_party_notices()  # the simulator builds losses in this process
    args = parse_args(argv)
    start = time.time()
    command = 'python tools/benchmark.py ' + ' '.join(argv if argv is not None else sys.argv[1:])
    if getattr(args, 'simulator', False):
        from mmdet_droploss.benchmark.sim_benchmark import run_simulator_benchmark
        report = run_simulator_benchmark(SIM_DESIGNS[args.design], args.methods, args.seeds,
                                         args.out, args.quick, command.strip(), git_commit(),
                                         log=lambda line: print(line, flush=True),
                                         report_only=args.report_only)
        print('\n' + report + f'\nfinished in {clock(time.time() - start)}; report: '
              f'{osp.join(args.out, "report.md")}')
        return
    env = {**os.environ, 'MMDET_DROPLOSS_BENCH_DATA': osp.abspath(args.data) + '/',
           'PYTHONPATH': REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', '')}
    design = DESIGNS[args.design]
    if not osp.isfile(osp.join(args.data, VAL_ANN)):
        spec = design.spec
        if args.quick:
            spec = dataclasses.replace(spec, **QUICK_SPEC)
        print(f'writing the data set of design "{design.name}" to {args.data}', flush=True)
        generate_lvis_regime(args.data, spec)

    runs = plan_runs(args.out, args.methods, args.seeds)
    seconds = {r: r.record()['seconds'] for r in runs if r.record() is not None}
    if args.report_only:
        runs = [r for r in runs if r in seconds]
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
        evaluate_fixed_ap(run, budget, env, args)
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
    report = write_report(args.out, runs, criteria, seconds, time.time() - start,
                          command.strip(), figures, design, git_commit())
    print('\n' + report)
    print(f'\nBenchmark finished in {clock(time.time() - start)}; report: '
          f'{osp.join(args.out, "report.md")}')


if __name__ == '__main__':
    main()
