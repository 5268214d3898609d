#!/usr/bin/env python
"""LVIS evaluation with the ``lvis`` package and with faster-coco-eval, side by side.

    # your own results (the .bbox.json / .segm.json that tools/test.py writes with
    # --cfg-options test_evaluator.outfile_prefix=work_dirs/x/results)
    python tools/benchmark_eval.py --ann data/lvis_v1/annotations/lvis_v1_val.json \\
        --results work_dirs/x/results.bbox.json [--fixed-ap [K]] [--pooled-ap]
    # an LVIS-v1-like generated set, evaluated from the metric's per-image records
    python tools/benchmark_eval.py --generate --num-images 19809 [--dets-per-image 300]

Results files: each backend's wall time (ground-truth loading excluded, result loading
included) and every metric of both, with the largest difference; ``--fixed-ap`` adds AP-Fixed
(the K best detections per category, no per-image cap), ``--pooled-ap`` AP-Pool.
``--generate``: each (backend, iou type) runs in a fresh process that loads the ground truth
and the per-image detection records, then times ``FastLVISMetric.compute_metrics`` (result
records to metrics, as in a test run) and reports the process's peak memory (RSS).
"""
import argparse
import contextlib
import io
import json
import os
import os.path as osp
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

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
    """One (backend, iou type) in this process: records -> metrics, with time and peak RSS."""
    import mmdet_droploss  # noqa: F401
    from mmdet_droploss.evaluation import FastLVISMetric
    with open(args.records, 'rb') as f:
        records = pickle.load(f)
    if args.iou_type == 'bbox':
        for _, record in records:
            record.pop('masks', None)
    metric = FastLVISMetric(ann_file=args.ann, metric=args.iou_type, backend=args.backend,
                            fixed_ap=args.fixed_ap, pooled_ap=args.pooled_ap,
                            metric_items=[k for k in ('AP', 'AP50', 'AP75', 'APs', 'APm',
                                                      'APl', 'APr', 'APc', 'APf', 'AR')])
    metric._load_ground_truth()
    if metric.dets_per_class:  # AP-Fixed's per-class budget fills as results stream in
        for _, record in records:
            metric.add_record(record)
        metric.gather_budgets()
        records = metric.results
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu_start = time.perf_counter(), time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        metrics = metric.compute_metrics(records)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(args.out, 'w') as f:
        json.dump(dict(seconds=seconds, cpu_seconds=cpu, base_gb=base / 2**20,
                       peak_gb=peak / 2**20, metrics=metrics), f)


def run_generated(args) -> None:
    from mmdet_droploss.evaluation.benchmark_data import generate_lvis_like
    iou_types = args.iou_types
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        gt, records = generate_lvis_like(args.num_images, args.dets_per_image, args.seed,
                                         masks='segm' in iou_types)
        ann = osp.join(tmp, 'lvis_v1_like_val.json')
        with open(ann, 'w') as f:
            json.dump(gt, f)
        with open(osp.join(tmp, 'records.pkl'), 'wb') as f:
            pickle.dump([(dict(img_id=r['img_id']), r) for r in records], f, protocol=5)
        num_dets = sum(len(r['scores']) for r in records)
        del gt, records
        print(f'Generated {args.num_images} images, {num_dets} detections in '
              f'{time.perf_counter() - start:.0f} s')
        for iou_type in iou_types:
            runs = {}
            for backend in args.backends:
                out = osp.join(tmp, f'{backend}.{iou_type}.json')
                cmd = [sys.executable, osp.abspath(__file__), '--worker', '--ann', ann,
                       '--records', osp.join(tmp, 'records.pkl'), '--backend', backend,
                       '--iou-type', iou_type, '--out', out]
                cmd += ['--fixed-ap', str(args.fixed_ap)] if args.fixed_ap else []
                cmd += ['--pooled-ap'] if args.pooled_ap else []
                proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      text=True, env={**os.environ, 'OMP_NUM_THREADS': '1'})
                if proc.returncode != 0:
                    raise SystemExit(f'{backend} {iou_type} failed:\n{proc.stderr[-3000:]}')
                with open(out) as f:
                    runs[backend] = json.load(f)
            _report_generated(iou_type, args, num_dets, runs)


def _report_generated(iou_type, args, num_dets, runs) -> None:
    backends = list(runs)
    print(f'\n## {iou_type}: {args.num_images} images, {num_dets} detections (generated, '
          'LVIS-v1-like)\n')
    print('| | ' + ' | '.join(backends) + ' |\n|' + '---|' * (len(backends) + 1))
    print('| time, records to metrics (s) | ' + ' | '.join(
        f"{runs[b]['seconds']:.2f}" for b in backends) + ' |')
    print('| CPU time (s) | ' + ' | '.join(
        f"{runs[b]['cpu_seconds']:.2f}" for b in backends) + ' |')
    print('| peak memory (GB) | ' + ' | '.join(
        f"{runs[b]['peak_gb']:.2f}" for b in backends) + ' |')
    print('| memory before evaluating (GB) | ' + ' | '.join(
        f"{runs[b]['base_gb']:.2f}" for b in backends) + ' |')
    if len(backends) == 2:
        ratio = runs['lvis']['seconds'] / runs['faster_coco_eval']['seconds']
        cpu = runs['lvis']['cpu_seconds'] / runs['faster_coco_eval']['cpu_seconds']
        print(f'\nfaster-coco-eval: {ratio:.1f}x faster ({cpu:.1f}x in CPU time)')
    stats = {b: {_METRIC_KEYS.get(k.split('_', 1)[1], k.split('_', 1)[1]): v
                 for k, v in runs[b]['metrics'].items()} for b in backends}
    _print_table(f'### {iou_type} metrics', stats, list(stats[backends[0]]), backends)


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
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--records', help=argparse.SUPPRESS)
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    parser.add_argument('--iou-type', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
