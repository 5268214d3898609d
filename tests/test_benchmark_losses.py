"""tools/benchmark_losses.py on small sizes: a row per loss and size, consistent ratios, memory
no smaller than the tensors a forward + backward must create (no timing asserts)."""
import importlib.util

import pytest

from conftest import REPO_ROOT

LOSSES = ('mmdet sigmoid CE', 'mmdet softmax CE (C+1)', 'CrossEntropyCustomLoss (BCE)', 'EQL',
          'BEQL b=4', 'DropLoss', 'DropLoss fixed 0.5', 'mmdet FocalLoss', 'EFL', 'ECM',
          'DropLoss Gumbel')


@pytest.fixture(scope='module')
def benchmark():
    spec = importlib.util.spec_from_file_location('benchmark_losses',
                                                  REPO_ROOT / 'tools/benchmark_losses.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_table_rows_ratios_memory_and_target_line(benchmark, capsys):
    sizes, classes = (96, 256), (12, 1230)
    benchmark.main(['--proposals', *map(str, sizes), '--classes', *map(str, classes),
                    '--repeats', '2', '--threads', '1', '--device', 'cpu'])
    out = capsys.readouterr().out
    rows = [line.strip('|').split('|') for line in out.splitlines()
            if line.startswith('| ') and not line.startswith('| N ')]
    table = {(int(n), int(c), name.strip()): (float(t), float(r), float(m))
             for n, c, name, t, r, m in rows}
    assert set(table) == {(n, c, name) for n in sizes for c in classes for name in LOSSES}
    for (num, num_classes, name), (ms, ratio, mb) in table.items():
        reference_ms = table[num, num_classes, 'mmdet sigmoid CE'][0]
        assert ms > 0
        assert ratio == pytest.approx(ms / reference_ms, rel=0.03, abs=0.01)
        # backward alone creates the (N, C[+1]) float32 gradient of the logits
        columns = num_classes + (1 if 'softmax' in name or name == 'ECM' else 0)
        assert mb * 2**20 >= num * columns * 4 - 2**20 * 1e-3
        assert mb * 2**20 < 50 * num * columns * 4 + 2**20  # no runaway accounting
    drop, sigmoid = table[256, 1230, 'DropLoss'][0], table[256, 1230, 'mmdet sigmoid CE'][0]
    line = [line for line in out.splitlines() if line.startswith('DropLoss / mmdet sigmoid CE')]
    assert line and 'N=256, C=1230' in line[0]
    assert float(line[0].split(': ')[1].split('x')[0]) == pytest.approx(drop / sigmoid, abs=0.05)
    assert 'the target is stated for N=8192, C=1230' in line[0]
    efl, focal = table[256, 1230, 'EFL'][0], table[256, 1230, 'mmdet FocalLoss'][0]
    line = [line for line in out.splitlines() if line.startswith('EFL / mmdet FocalLoss')]
    assert line and 'N=256, C=1230' in line[0] and 'target <= 1.3' in line[0]
    assert float(line[0].split(': ')[1].split('x')[0]) == pytest.approx(efl / focal, abs=0.05)


def test_losses_option_picks_the_rows(benchmark, capsys):
    benchmark.main(['--proposals', '64', '--classes', '12', '--repeats', '1', '--threads', '1',
                    '--device', 'cpu', '--losses', 'mmdet FocalLoss', 'EFL'])
    out = capsys.readouterr().out
    names = {line.strip('|').split('|')[2].strip() for line in out.splitlines()
             if line.startswith('| ') and not line.startswith('| N ')}
    assert names == {'mmdet sigmoid CE', 'mmdet FocalLoss', 'EFL'}  # CE: the ratio column's
    assert 'EFL / mmdet FocalLoss at N=64, C=12' in out and 'DropLoss /' not in out
