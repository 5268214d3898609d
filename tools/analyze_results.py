#!/usr/bin/env python
"""Collect LVIS results from work dirs: the paper-style table and the Pareto plots (Fig. 3).

    python tools/analyze_results.py WORK_DIR [WORK_DIR ...] [--out DIR]

Each work dir is one run (a trained-and-validated or tested model); runs whose dumped config has
the same name are seeds of one config and are averaged (mean ± sample std, in %). Columns: mask
AP, APr, APc, APf, box AP, mask AR. Writes ``results.md``, ``results.csv`` and ``pareto.png``
(APr vs APf and APc vs APf, with the Pareto front) to ``--out``.
"""
import argparse
import os
import os.path as osp

from mmdet_droploss.analysis.results import (collect, csv_table, markdown_table,
                                             plot_pareto)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--out', default='work_dirs/analysis', help='output directory')
    args = parser.parse_args(argv)
    try:
        results = collect(args.work_dirs)
    except FileNotFoundError as err:
        raise SystemExit(str(err))
    os.makedirs(args.out, exist_ok=True)
    table = markdown_table(results)
    with open(osp.join(args.out, 'results.md'), 'w') as f:
        f.write(table + '\n')
    with open(osp.join(args.out, 'results.csv'), 'w') as f:
        f.write(csv_table(results))
    plot_pareto(results, osp.join(args.out, 'pareto.png'))
    print(table)
    print(f'\nwrote results.md, results.csv and pareto.png to {args.out}')


if __name__ == '__main__':
    main()
