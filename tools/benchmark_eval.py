#!/usr/bin/env python
"""LVIS evaluation with the ``lvis`` package and with faster-coco-eval, side by side.

    # your own results (the .bbox.json / .segm.json that tools/test.py writes with
    # --cfg-options test_evaluator.outfile_prefix=work_dirs/x/results)
    python tools/benchmark_eval.py --ann data/lvis_v1/annotations/lvis_v1_val.json \\
        --results work_dirs/x/results.bbox.json [--fixed-ap [K]] [--pooled-ap]
    # an LVIS-v1-like generated set, evaluated from the metric's per-image records
    python tools/benchmark_eval.py --generate --num-images 19809 [--dets-per-image 300] \\
        [--nproc 2] [--backends lvis faster_coco_eval] [--max-memory-gb G]

Results files: each backend's wall time (ground-truth loading excluded, result loading
included) and every metric of both, with the largest difference; ``--fixed-ap`` adds AP-Fixed
(the K best detections per category, no per-image cap), ``--pooled-ap`` AP-Pool.
``--generate``: each (backend, iou type, processes) runs in a fresh process that loads the
ground truth and the per-image detection records, then times ``FastLVISMetric``'s
``compute_metrics`` (records to metrics, as at the end of a test run) with ``nproc`` processes
(faster-coco-eval: 1 and ``--nproc``; the lvis path: 1). One table gives wall and CPU time,
the peak RSS of the evaluating process and of its largest worker, and the speedups over the
lvis path and over 1 process; then every metric of every run side by side. A run that fails
(an exception such as MemoryError, a crash, a kill, or its processes holding more than
``--max-memory-gb``, by default 85 % of the machine's memory) is reported as failed with the
reason, and the other runs are still measured.
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_droploss.evaluation import (evaluate, evaluate_fixed, evaluate_pooled,  # noqa: E402
                                       load_ground_truth)
from mmdet_droploss.evaluation.lvis_backends import ground_truth_ids  # noqa: E402

BACKENDS = ('lvis', 'faster_coco_eval')
METRICS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf', 'AR@300',
           'ARs@300', 'ARm@300', 'ARl@300')
FIXED = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')
# the metric's keys -> the names printed (the lvis package's)
_METRIC_KEYS = {'AR': 'AR@300', 'ARs': 'ARs@300', 'ARm': 'ARm@300', 'ARl': 'ARl@300'}


def iou_type_of(path: str) -> str:
    for iou_type in ('segm', 'bbox'):
        if f'.{iou_type}.' in osp.basename(path) or osp.basename(path).startswith(iou_type):
            return iou_type
    raise SystemExit(f'{path}: cannot tell bbox from segm results; name it *.bbox.json or '
                     '*.segm.json (as tools/test.py does).')


def _print_table(title: str, stats: Dict[str, Dict[str, float]], names, backends) -> None:
    print(f'\n{title}\n\n| | ' + ' | '.join(backends) + ' | |\n|' + '---|' * (len(backends) + 2))
    worst = 0.0
    for name in names:
        values = [stats[b][name] for b in backends]
        diff = max(values) - min(values)
        worst = max(worst, diff)
        print(f'| {name} | ' + ' | '.join(f'{v:.4f}' for v in values) + f' | diff {diff:.1e} |')
    print(f'\nlargest difference over {len(names)} metrics: {worst:.1e}')


def run_files(ann_file: str, result_files: List[str], backends, fixed_ap: Optional[int],
              pooled_ap: bool) -> None:
    ground_truth = {b: load_ground_truth(ann_file, b) for b in backends}
    _, img_ids = ground_truth_ids(ground_truth[backends[0]], backends[0])
    for path in result_files:
        iou_type = iou_type_of(path)
        with open(path) as f:
            detections = json.load(f)
        stats, seconds = {}, {}
        for backend in backends:
            copy = json.loads(json.dumps(detections))  # both backends annotate the dicts
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # the lvis package prints a table
                stats[backend] = evaluate(ground_truth[backend], copy, iou_type, img_ids,
                                          backend, print_fn=lambda *_: None).stats
                if fixed_ap:
                    fixed = evaluate_fixed(ground_truth[backend], json.loads(json.dumps(
                        detections)), iou_type, img_ids, backend, k=fixed_ap,
                        print_fn=lambda *_: None).stats
                    stats[backend].update({f'{k}_fixed': fixed[k] for k in FIXED})
                if pooled_ap:
                    from mmdet_droploss.evaluation import select_fixed
                    stats[backend].update(evaluate_pooled(
                        ground_truth[backend].dataset, select_fixed(detections, fixed_ap or 10000),
                        iou_type, backend, print_fn=lambda *_: None))
            seconds[backend] = time.perf_counter() - start
        print(f'\n## {iou_type}: {len(img_ids)} images, {len(detections)} detections ({path})')
        print('\n| | ' + ' | '.join(backends) + ' |\n|' + '---|' * (len(backends) + 1))
        print('| time (s) | ' + ' | '.join(f'{seconds[b]:.2f}' for b in backends) + ' |')
        if len(backends) == 2:
            print(f"\nfaster-coco-eval: {seconds['lvis'] / seconds['faster_coco_eval']:.1f}x "
                  'faster')
        names = list(METRICS)
        names += [f'{k}_fixed' for k in FIXED] if fixed_ap else []
        names += ['AP_pool', 'APr_pool', 'APc_pool', 'APf_pool'] if pooled_ap else []
        _print_table(f'### {iou_type} metrics', stats, names, backends)


def _worker(args) -> None:
    """One (backend, iou type, nproc) in this process: records -> metrics, with time and peak
    RSS of this process and of each worker process."""
    import mmdet_droploss  # noqa: F401
    from mmdet_droploss.evaluation import FastLVISMetric
    with open(args.records, 'rb') as f:
        records = pickle.load(f)
    if args.iou_type == 'bbox':
        for _, record in records:
            record.pop('masks', None)
    metric = FastLVISMetric(ann_file=args.ann, metric=args.iou_type, backend=args.backend,
                            fixed_ap=args.fixed_ap, pooled_ap=args.pooled_ap, nproc=args.nproc,
                            metric_items=[k for k in ('AP', 'AP50', 'AP75', 'APs', 'APm',
                                                      'APl', 'APr', 'APc', 'APf', 'AR')])
    metric._load_ground_truth()
    # what process() does while the model runs: each image's 300 best kept (masks packed),
    # AP-Fixed's per-class budget filled
    for _, record in records:
        metric.add_record(record)
    if metric.dets_per_class:
        metric.gather_budgets()
    records = metric.results
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    metric.start_workers()  # in a test run the first result starts them
    runner = metric._make_runner()
    metric._runner = runner
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = metric.compute_metrics(records)
        seconds = time.perf_counter() - start
    finally:
        runner.close()
    shares = metric.last_shares.get(args.iou_type, [])
    workers = [s['peak_rss_gb'] for s in shares if s['where'] != 'this process']
    # this process, and what its workers spent on their shares
    cpu = _cpu_seconds() - cpu_start + sum(s['cpu_seconds'] for s in shares
                                           if s['where'] != 'this process')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(args.out, 'w') as f:
        json.dump(dict(seconds=seconds, cpu_seconds=cpu, base_gb=base / 2**20,
                       peak_gb=peak / 2**20, worker_peak_gb=max(workers, default=None),
                       shares=shares, metrics=metrics), f)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def _tree_rss_gb(pid: int) -> float:
    """Resident memory of a process and all its descendants (from /proc), in GB."""
    parents = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    parents[int(entry)] = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier and p not in tree]
        tree.update(children)
        frontier = children
    total = 0
    for p in tree:
        try:
            with open(f'/proc/{p}/statm') as f:
                total += int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
        except (OSError, IndexError, ValueError):
            continue
    return total / 2**30


def _default_memory_limit_gb() -> float:
    """85 % of the machine's memory: past that a run is stopped before the kernel's OOM killer
    picks a process (maybe another one)."""
    with open('/proc/meminfo') as f:
        total_kb = int(next(line for line in f if line.startswith('MemTotal')).split()[1])
    return 0.85 * total_kb / 2**20


def run_measured(cmd: List[str], limit_gb: float) -> Tuple[Optional[str], float]:
    """Run ``cmd``; (why it failed or None, its process tree's highest sampled RSS in GB).
    A tree above ``limit_gb`` is killed and reported as such."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'}, start_new_session=True)
    stderr_chunks: List[str] = []
    reader = threading.Thread(target=lambda: stderr_chunks.append(proc.stderr.read()),
                              daemon=True)
    reader.start()
    highest, over = 0.0, False
    while proc.poll() is None:
        rss = _tree_rss_gb(proc.pid)
        highest = max(highest, rss)
        if rss > limit_gb:
            over = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.5)
    reader.join(timeout=10)
    stderr = ''.join(stderr_chunks)
    if over:
        return f'stopped: its processes held {highest:.1f} GB (limit {limit_gb:.1f} GB, ' \
            '--max-memory-gb)', highest
    if proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name
        hint = ' (out of memory?)' if proc.returncode == -signal.SIGKILL else ''
        return f'killed by {name}{hint}', highest
    if proc.returncode != 0:
        lines = [line for line in stderr.splitlines() if line.strip()]
        errors = [line for line in lines if 'Error' in line or 'error' in line]
        return f'exit status {proc.returncode}: ' + (errors or lines or ['no output'])[-1][
            :300], highest
    return None, highest


def run_generated(args) -> None:
    from mmdet_droploss.evaluation.benchmark_data import generate_lvis_like
    nprocs = sorted({1, args.nproc})
    limit = args.max_memory_gb or _default_memory_limit_gb()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gt, records = generate_lvis_like(args.num_images, args.dets_per_image, args.seed,
                                         masks='segm' in args.iou_types)
        ann = osp.join(tmp, 'lvis_v1_like_val.json')
        with open(ann, 'w') as f:
            json.dump(gt, f)
        with open(osp.join(tmp, 'records.pkl'), 'wb') as f:
            pickle.dump([(dict(img_id=r['img_id']), r) for r in records], f, protocol=5)
        num_dets = sum(len(r['scores']) for r in records)
        del gt, records
        print(f'Generated {args.num_images} images, {num_dets} detections in '
              f'{time.perf_counter() - start:.0f} s; memory limit per run {limit:.1f} GB',
              flush=True)
        runs = {}
        for iou_type in args.iou_types:
            for backend in args.backends:
                for nproc in (nprocs if backend == 'faster_coco_eval' else [1]):
                    out = osp.join(tmp, f'{backend}.{iou_type}.{nproc}.json')
                    cmd = [sys.executable, osp.abspath(__file__), '--worker', '--ann', ann,
                           '--records', osp.join(tmp, 'records.pkl'), '--backend', backend,
                           '--iou-type', iou_type, '--nproc', str(nproc), '--out', out]
                    cmd += ['--fixed-ap', str(args.fixed_ap)] if args.fixed_ap else []
                    cmd += ['--pooled-ap'] if args.pooled_ap else []
                    error, sampled = run_measured(cmd, limit)
                    if error is None:
                        with open(out) as f:
                            runs[backend, iou_type, nproc] = json.load(f)
                    else:
                        runs[backend, iou_type, nproc] = dict(error=error, sampled_gb=sampled)
                    print(f'  {backend} {iou_type} {nproc} process(es): '
                          f'{error or "%.2f s" % runs[backend, iou_type, nproc]["seconds"]}',
                          flush=True)
        _report_generated(args, num_dets, runs)


def _report_generated(args, num_dets, runs) -> None:
    print(f'\n## {args.num_images} images, {num_dets} detections (generated, LVIS-v1-like)\n')
    print('| back end | iou type | processes | wall (s) | CPU (s) | peak RSS, main (GB) | '
          'peak RSS per worker (GB) | speedup vs lvis | speedup vs 1 process | status |\n'
          '|---|---|---|---|---|---|---|---|---|---|')
    for (backend, iou_type, nproc), run in runs.items():
        if 'error' in run:
            print(f'| {backend} | {iou_type} | {nproc} | | | | | | | failed: {run["error"]} |')
            continue
        lvis = runs.get(('lvis', iou_type, 1), {}).get('seconds')
        one = runs.get((backend, iou_type, 1), {}).get('seconds')
        worker = run.get('worker_peak_gb')
        print(f'| {backend} | {iou_type} | {nproc} | {run["seconds"]:.2f} | '
              f'{run["cpu_seconds"]:.2f} | {run["peak_gb"]:.2f} | '
              f'{"-" if worker is None else "%.2f" % worker} | '
              f'{"%.1fx" % (lvis / run["seconds"]) if lvis else "-"} | '
              f'{"%.2fx" % (one / run["seconds"]) if one else "-"} | ok |')
    print('\n(wall: records to metrics; the workers are started before, as in a test run, '
          'where the first result starts them while the model runs; CPU: the evaluating '
          'process and its workers; peak RSS, main: the evaluating '
          'process, records and ground truth included; per worker: the largest worker, each a '
          'fresh process)')
    for iou_type in args.iou_types:
        done = {f'{b}/{n}': r for (b, t, n), r in runs.items() if t == iou_type and
                'error' not in r}
        if len(done) < 1:
            continue
        print(f'\n## {iou_type}: {args.num_images} images, {num_dets} detections')
        stats = {label: {_METRIC_KEYS.get(k.split('_', 1)[1], k.split('_', 1)[1]): v
                         for k, v in r['metrics'].items()} for label, r in done.items()}
        labels = list(done)
        _print_table(f'### {iou_type} metrics', stats, list(stats[labels[0]]), labels)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--ann', help='LVIS annotation file of the evaluated split')
    parser.add_argument('--results', nargs='+', help='*.bbox.json / *.segm.json results files')
    parser.add_argument('--generate', action='store_true',
                        help='benchmark on a generated LVIS-v1-like set')
    parser.add_argument('--num-images', type=int, default=1000)
    parser.add_argument('--dets-per-image', type=int, default=300)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--iou-types', nargs='+', default=['bbox', 'segm'],
                        choices=['bbox', 'segm'])
    parser.add_argument('--backends', nargs='+', default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument('--fixed-ap', nargs='?', type=int, const=10000, default=None,
                        metavar='K', help='also AP-Fixed, K detections per category '
                        '(default 10000)')
    parser.add_argument('--pooled-ap', action='store_true', help='also AP-Pool')
    parser.add_argument('--nproc', type=int, default=1,
                        help='--generate: measure faster-coco-eval with 1 and with this many '
                        'processes (the lvis path with 1)')
    parser.add_argument('--max-memory-gb', type=float, default=None,
                        help='--generate: stop a run whose processes hold more (default: 85%% '
                        'of the machine)')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--records', help=argparse.SUPPRESS)
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    parser.add_argument('--iou-type', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nproc < 1:
        parser.error('--nproc needs a positive number of processes')
    if args.fixed_ap is not None and args.fixed_ap < 1:
        parser.error('--fixed-ap K needs a positive K (the paper uses 10000)')
    if args.worker:
        _worker(args)
    elif args.generate:
        run_generated(args)
    elif args.ann and args.results:
        run_files(args.ann, args.results, args.backends, args.fixed_ap, args.pooled_ap)
    else:
        parser.error('give --ann and --results, or --generate')


if __name__ == '__main__':
    main()
