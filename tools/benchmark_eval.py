#!/usr/bin/env python
"""LVIS evaluation with the ``lvis`` package and with faster-coco-eval, side by side.

    # your own results (the .bbox.json / .segm.json that tools/test.py writes with
    # --cfg-options test_evaluator.outfile_prefix=work_dirs/x/results)
    python tools/benchmark_eval.py --ann data/lvis_v1/annotations/lvis_v1_val.json \\
        --results work_dirs/x/results.bbox.json [--fixed-ap [K]] [--pooled-ap]
    # an LVIS-v1-like generated set, evaluated from the metric's per-image records
    python tools/benchmark_eval.py --generate --num-images 19809 [--dets-per-image 300] \\
        [--nproc 2] [--backends lvis faster_coco_eval] [--max-memory-gb G] [--repeat K]

Results files: each backend's wall time (ground-truth loading excluded, result loading
included) and every metric of both, with the largest difference; ``--fixed-ap`` adds AP-Fixed
(the K best detections per category, no per-image cap), ``--pooled-ap`` AP-Pool.
``--generate``: each (backend, iou type, processes) runs in a fresh process that loads the
ground truth and the per-image detection records, then times ``FastLVISMetric``'s
``compute_metrics`` (records to metrics, as at the end of a test run) with ``nproc`` processes
(faster-coco-eval: 1 and ``--nproc``; the lvis path: 1). One table gives wall and CPU time,
the peak RSS of the evaluating process and of its largest worker, and the speedups over the
lvis path and over 1 process; then every metric of every run side by side. ``--repeat K``
measures each run K times, in rounds, and reports the median (every run's wall time shown).
A run that fails (an exception such as MemoryError, a crash, a kill, or its processes
holding more than ``--max-memory-gb``, by default 85 % of the machine's memory) is reported
as failed with the reason, and the other runs are still measured.

The timing and the tables are ``mmdet_droploss/benchmark_eval/timing.py`` and ``tables.py``;
a run's process is measured by ``measured_run.py``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmdet_droploss.benchmark_eval.timing import (time_generated,  # noqa: E402
                                                  time_metric, time_result_files)
from mmdet_droploss.evaluation import DEFAULT_DETS_PER_CLASS  # noqa: E402

BACKENDS = ('lvis', 'faster_coco_eval')


def parse_args(argv=None) -> argparse.Namespace:
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
    parser.add_argument('--fixed-ap', nargs='?', type=int, const=DEFAULT_DETS_PER_CLASS,
                        default=None, metavar='K', help='also AP-Fixed, K detections per '
                        'category (default 10000)')
    parser.add_argument('--pooled-ap', action='store_true', help='also AP-Pool')
    parser.add_argument('--nproc', type=int, default=1,
                        help='--generate: measure faster-coco-eval with 1 and with this many '
                        'processes (the lvis path with 1)')
    parser.add_argument('--repeat', type=int, default=1, metavar='K',
                        help='--generate: measure every run K times (in rounds) and report '
                        'the median')
    parser.add_argument('--max-memory-gb', type=float, default=None,
                        help='--generate: stop a run whose processes hold more (default: 85%% '
                        'of the machine)')
    # --generate runs each measurement as this script with --worker and these
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--records', help=argparse.SUPPRESS)
    parser.add_argument('--backend', help=argparse.SUPPRESS)
    parser.add_argument('--iou-type', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.nproc < 1:
        parser.error('--nproc needs a positive number of processes')
    if args.repeat < 1:
        parser.error('--repeat needs a positive number of runs')
    if args.fixed_ap is not None and args.fixed_ap < 1:
        parser.error('--fixed-ap K needs a positive K (the paper uses 10000)')
    if not (args.worker or args.generate or (args.ann and args.results)):
        parser.error('give --ann and --results, or --generate')
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.worker:
        time_metric(args.ann, args.records, args.backend, args.iou_type, args.nproc,
                    args.fixed_ap, args.pooled_ap, args.out)
    elif args.generate:
        time_generated([sys.executable, osp.abspath(__file__), '--worker'], args.num_images,
                       args.dets_per_image, args.seed, args.iou_types, args.backends,
                       args.nproc, args.fixed_ap, args.pooled_ap, args.max_memory_gb,
                       args.repeat)
    else:
        time_result_files(args.ann, args.results, args.backends, args.fixed_ap, args.pooled_ap)


if __name__ == '__main__':
    main()
