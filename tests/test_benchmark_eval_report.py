"""``tools/benchmark_eval.py --repeat K``: the run of median wall time stands for K runs, and
the table shows every run's wall time (``benchmark_eval.timing.median_run``, ``.tables``)."""
import contextlib
import io

from mmdet_droploss.benchmark_eval.tables import print_generated_report
from mmdet_droploss.benchmark_eval.timing import median_run


def _run(seconds, peak, worker=None, ap=0.5, process=1.5):
    return dict(seconds=seconds, cpu_seconds=2 * seconds, peak_gb=peak, worker_peak_gb=worker,
                metrics={'bbox_AP': ap}, shares=[], process_seconds=process)


def test_the_median_run_stands_for_its_repeats_with_the_highest_peaks():
    runs = [_run(30.0, 3.0, 1.0), _run(20.0, 5.0, 1.5), _run(25.0, 4.0, 1.2)]
    median = median_run(runs)
    assert median['seconds'] == 25.0 and median['cpu_seconds'] == 50.0
    assert median['all_seconds'] == [30.0, 20.0, 25.0]  # in the order run
    assert median['peak_gb'] == 5.0 and median['worker_peak_gb'] == 1.5
    assert median['same_metrics']
    assert median_run(runs[:2])['seconds'] == 20.0  # of two middle runs, the faster
    assert not median_run([_run(1.0, 1.0), _run(2.0, 1.0, ap=0.4)])['same_metrics']
    failed = dict(error='killed by SIGKILL (out of memory?)', sampled_gb=9.0)
    assert median_run([runs[0], failed]) is failed  # one failure fails the run


def test_the_table_gives_medians_speedups_between_them_and_every_run():
    one = median_run([_run(40.0, 5.0), _run(36.0, 5.5), _run(38.0, 5.2)])
    two = median_run([_run(20.0, 5.0, 1.3, process=3.0), _run(19.0, 5.1, 1.4),
                      _run(22.0, 5.0, 1.2)])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_generated_report(10, 100, {('faster_coco_eval', 'bbox', 1): one,
                                         ('faster_coco_eval', 'bbox', 2): two}, ['bbox'])
    rows = [line.split('|')[1:-1] for line in out.getvalue().splitlines()
            if line.startswith('| faster_coco_eval')]
    assert [r[3].strip() for r in rows] == ['38.00', '20.00']  # medians
    assert [r[5].strip() for r in rows] == ['1.50', '3.00']  # process() of the median run
    assert rows[1][9].strip() == '1.90x'  # 38 / 20
    assert [r[10].strip() for r in rows] == ['40.00 / 36.00 / 38.00', '20.00 / 19.00 / 22.00']
    assert rows[0][6].strip() == '5.50' and rows[1][7].strip() == '1.40'  # highest peaks
    assert all(r[-1].strip() == 'ok' for r in rows)
    assert 'wall, every run (s)' in out.getvalue() and 'median' in out.getvalue()
