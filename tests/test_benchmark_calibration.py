"""The benchmark's calibration (issue 18): criteria on hand-made results, the designs' RFS rule
and options, and the held-out methods kept off designs being searched."""
import importlib.util
import math
import statistics

import pytest

from conftest import REPO_ROOT
from mmdet_droploss.analysis.results import ConfigResult, Run
from mmdet_droploss.benchmark import (CALIBRATION_METHODS, DESIGNS, FROZEN_DESIGN,
                                      HELD_OUT_METHODS, METHODS, calibrate, plan_runs, verdict)
from mmdet_droploss.benchmark.calibration import APF_TOLERANCE, ORDERINGS, calibration_table


def result(label, apr, ap, apf=(0.68,)):
    """A ConfigResult over len(apr) seeds; ap and apf are cycled to that length."""
    n = len(apr)
    ap, apf = [ap[k % len(ap)] for k in range(n)], [apf[k % len(apf)] for k in range(n)]
    runs = [Run(f'/w/{label}/{k}', label, dict(segm_APr=apr[k], segm_AP=ap[k], segm_APf=apf[k]))
            for k in range(n)]

    def stats(values):
        return statistics.mean(values), (statistics.stdev(values) if n > 1 else 0.0)
    mean, std = {}, {}
    for column, values in (('APr', apr), ('AP', ap), ('APf', apf)):
        mean[column], std[column] = stats(values)
    return ConfigResult(label, runs, mean, std)


# An LVIS-like ranking over 3 seeds, every gap above the seed spread.
LVIS_LIKE = dict(
    bce=result('BCE', [0.02, 0.03, 0.025], [0.30, 0.31, 0.305]),
    eql=result('EQL', [0.06, 0.07, 0.065], [0.33, 0.34, 0.335]),
    bce_rfs=result('BCE + RFS', [0.15, 0.16, 0.155], [0.36, 0.37, 0.365], [0.67]),
    eql_rfs=result('EQL + RFS', [0.20, 0.21, 0.205], [0.38, 0.39, 0.385]),
    eqlv2=result('EQLv2', [0.18, 0.19, 0.185], [0.37, 0.38, 0.375], [0.69]))


def test_lvis_like_ranking_passes_every_required_check():
    checks = calibrate(LVIS_LIKE)
    required = [c for c in checks if c.required]
    # 4 orderings on APr and on AP, APf of the 4 other methods
    assert len(required) == 2 * len(ORDERINGS) + len(CALIBRATION_METHODS) - 1
    assert all(c.passed for c in required), calibration_table(checks)
    assert verdict(checks, seeds=3) == 'pass'
    # EQLv2 above BCE + RFS on APr is reported, not required (published by one source)
    reported = [c for c in checks if not c.required and c.name.startswith('APr')]
    assert len(reported) == 1 and reported[0].passed
    assert 'reported, not required' in calibration_table(checks)


def test_gap_must_exceed_the_larger_seed_spread():
    # BCE's APr spread (0.036) is larger than EQL's lead (0.03): the ordering fails
    spread = dict(LVIS_LIKE, bce=result('BCE', [0.00, 0.035, 0.07], [0.30, 0.31, 0.305]),
                  eql=result('EQL', [0.06, 0.065, 0.07], [0.33, 0.34, 0.335]))
    check = next(c for c in calibrate(spread) if c.name == 'APr: BCE < EQL')
    assert not check.passed
    assert 'gap +3.0, larger std 3.5' in check.detail
    assert verdict(calibrate(spread), seeds=3) == 'fail'


def test_one_seed_rejects_but_cannot_pass():
    one = {m: result(r.config, [r.mean['APr']], [r.mean['AP']], [r.mean['APf']])
           for m, r in LVIS_LIKE.items()}
    assert verdict(calibrate(one), seeds=1) == 'incomplete'
    # the issue-10 finding: EQL level with BCE on APr rejects a design on one seed
    flat = dict(one, eql=result('EQL', [0.024], [0.30]))
    assert verdict(calibrate(flat), seeds=1) == 'fail'


def test_apf_must_stay_within_tolerance_of_bce():
    moved = dict(LVIS_LIKE, bce_rfs=result('BCE + RFS', [0.15, 0.16, 0.155], [0.36, 0.37, 0.365],
                                           [0.68 - APF_TOLERANCE - 0.005]))
    check = next(c for c in calibrate(moved) if c.name.startswith('APf: |bce_rfs'))
    assert not check.passed and '(-3.5)' in check.detail


def test_missing_method_is_not_measured_and_not_a_pass():
    partial = {m: r for m, r in LVIS_LIKE.items() if m != 'eqlv2'}
    checks = calibrate(partial)
    assert any(c.passed is None and 'eqlv2' in c.name for c in checks)
    assert verdict(checks, seeds=3) == 'incomplete'


def test_designs_keep_lvis_absolute_rfs_count():
    for design in DESIGNS.values():
        # categories annotated in fewer than 57 training images are repeated, as on LVIS
        assert math.isclose(design.rfs_threshold * design.spec.num_train_images, 57)
        options = design.train_options(uses_rfs=True)
        assert options[-1] == f'train_dataloader.dataset.oversample_thr={design.rfs_threshold:.6g}'
        assert design.train_options(uses_rfs=False) == \
            design.cfg_options + design._vocabulary_options("train_dataloader.dataset")
    assert math.isclose(DESIGNS['issue10'].rfs_threshold, 57 / 720)
    # the shipped RFS configs default to the issue-10 design's threshold
    from mmengine.config import Config
    import mmdet_droploss  # noqa: F401  (registers the scope)
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/benchmark/mask_rcnn_tiny_eql_rfs_bench.py'))
    assert cfg.train_dataloader.dataset.type == 'ClassBalancedDataset'
    assert math.isclose(cfg.train_dataloader.dataset.oversample_thr, 57 / 720)
    assert cfg.train_dataloader.dataset.dataset.type == 'LVISDataset'
    assert cfg.model.roi_head.bbox_head.loss_cls.type == 'EQL'


def test_rfs_methods_are_their_base_method_plus_sampling(tmp_path):
    runs = {r.method: r for r in plan_runs(str(tmp_path), list(METHODS), [0])}
    assert {m for m, r in runs.items() if r.uses_rfs} == {'bce_rfs', 'eql_rfs', 'droploss_rfs'}
    assert not set(CALIBRATION_METHODS) & set(HELD_OUT_METHODS)


def test_classifier_prior_sets_every_compared_methods_fc_cls_bias(tmp_path):
    """CLASSIFIER_PRIOR indexes init_cfg[0]: in every calibration and held-out config that entry
    must be the Normal init of fc_cls, so the override gives each of them p = 0.001 and changes
    nothing else (BCE's init already has it; EQLv2's starts at bias 0)."""
    import argparse

    from mmengine.config import Config, DictAction

    from mmdet_droploss.benchmark.designs import CLASSIFIER_PRIOR
    parser = argparse.ArgumentParser()
    parser.add_argument('--options', nargs='+', action=DictAction)
    override = parser.parse_args(['--options', *CLASSIFIER_PRIOR]).options
    priors = {}
    for run in plan_runs(str(tmp_path), [*CALIBRATION_METHODS, *HELD_OUT_METHODS], [0]):
        cfg = Config.fromfile(str(REPO_ROOT / run.config))
        before = [dict(entry) for entry in cfg.model.roi_head.bbox_head.init_cfg]
        cfg.merge_from_dict(override)
        after = [dict(entry) for entry in cfg.model.roi_head.bbox_head.init_cfg]
        assert after[0]['type'] == 'Normal' and after[0]['override'] == dict(name='fc_cls')
        assert after[0]['bias_prob'] == 0.001
        assert after[1:] == before[1:]
        priors[run.method] = before[0]['bias_prob']
    assert priors.pop('eqlv2') is None  # its authors' bias 0, unless a design overrides it
    assert set(priors.values()) == {0.001}
    assert 'scarce4x_distinct_prior' in DESIGNS and \
        set(CLASSIFIER_PRIOR) <= set(DESIGNS['scarce4x_distinct_prior'].cfg_options)


def _benchmark_tool():
    spec = importlib.util.spec_from_file_location('benchmark_tool',
                                                  REPO_ROOT / 'tools' / 'benchmark.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_held_out_methods_are_refused_on_a_design_being_searched(capsys):
    tool = _benchmark_tool()
    candidate = next(name for name in DESIGNS if name != FROZEN_DESIGN)
    with pytest.raises(SystemExit):
        tool.parse_args(['--design', candidate, '--methods', 'bce', 'droploss'])
    err = capsys.readouterr().err
    assert "['droploss'] are held out" in err and '--allow-held-out' in err
    args = tool.parse_args(['--design', candidate, '--methods', 'droploss', '--allow-held-out'])
    assert args.methods == ['droploss']
    # by default a candidate design trains the calibration methods only, in its own folders
    args = tool.parse_args(['--design', candidate])
    assert tuple(args.methods) == CALIBRATION_METHODS
    assert candidate in args.out


def test_distinct_tail_shares_no_shape_and_hue_with_a_frequent_class():
    from mmdet_droploss.datasets.lvis_regime_vocabulary import category_attributes
    spec = DESIGNS['scarce4x_distinct'].spec
    counts = spec.train_image_counts
    attrs = category_attributes(counts, spec.seed, 'distinct')
    frequent = {(a[0], a[1]) for a, c in zip(attrs, counts) if c > 100}
    tail = [a for a, c in zip(attrs, counts) if c <= 100]
    assert len(set(tail)) == len(tail) and all(a[3] == 'striped' for a in tail)
    assert not frequent & {(a[0], a[1]) for a in tail}
    # only the tail changes: the frequent categories are those of the default ('shared') one
    shared = category_attributes(counts, spec.seed)
    assert [a for a, c in zip(shared, counts) if c > 100] == \
        [a for a, c in zip(attrs, counts) if c > 100]
    with pytest.raises(ValueError, match="tail_look must be 'shared' or 'distinct'"):
        category_attributes(counts, spec.seed, 'other')


def test_held_out_predictions_agree_reverse_or_tie_with_the_published_orderings():
    from mmdet_droploss.benchmark import PUBLISHED_ORDERINGS, predict
    from mmdet_droploss.benchmark.predictions import predictions_table
    results = dict(
        bce=result('BCE', [0.02, 0.03, 0.025], [0.30, 0.31, 0.305]),
        eql=result('EQL', [0.06, 0.07, 0.065], [0.33, 0.34, 0.335]),
        # APr above EQL by 0.3 points, within EQL's 0.5-point spread: a tie; AP below: reversed
        droploss=result('DropLoss', [0.063, 0.073, 0.068], [0.31, 0.32, 0.315]),
        beql=result('BEQL', [0.10, 0.11, 0.105], [0.25, 0.26, 0.255]))
    outcome = {(p.ordering.low, p.ordering.high, p.ordering.column): p.outcome
               for p in predict(results)}
    assert outcome[('bce', 'droploss', 'APr')] == 'agrees'  # +4.5 against a 0.5 spread
    assert outcome[('eql', 'droploss', 'APr')] == 'tie'
    assert outcome[('eql', 'droploss', 'AP')] == 'reverses'
    assert outcome[('beql', 'droploss', 'AP')] == 'agrees'
    assert outcome[('droploss', 'beql', 'APr')] == 'agrees'
    assert outcome[('eql_rfs', 'droploss_rfs', 'APr')] == 'not measured'
    assert len(outcome) == len(PUBLISHED_ORDERINGS)
    table = predictions_table(predict(results), {'droploss': 'DropLoss'})
    assert '| APr: eql < DropLoss | 2.5 < 3.5 |' in table and '**tie**' in table


def test_each_run_gets_a_free_port_unless_one_is_given(tmp_path, monkeypatch):
    import socket
    tool = _benchmark_tool()
    port = int(tool.free_port())
    with socket.socket() as sock:  # nothing listens there: a launcher can bind it
        sock.bind(('127.0.0.1', port))
    seen = []

    class Launched:
        stdout = []

        def __init__(self, cmd, env, **kwargs):
            seen.append(env.get('PORT'))

        def wait(self):
            return 0
    monkeypatch.setattr(tool.subprocess, 'Popen', Launched)
    args = tool.parse_args(['--design', 'issue10', '--methods', 'bce', '--out', str(tmp_path)])
    run = plan_runs(str(tmp_path), ['bce'], [0])[0]
    tool.train(run, args, {'PATH': '/usr/bin'})
    tool.train(run, args, {'PATH': '/usr/bin', 'PORT': '29877'})
    assert seen[0].isdigit() and 1024 <= int(seen[0]) <= 65535 and seen[1] == '29877'


def test_seeds_that_select_no_run_are_an_error_that_says_how_to_ask_for_seed_0(capsys):
    tool = _benchmark_tool()
    for argv in (['--seeds', '0'], ['--design', 'roi_v1a', '--seeds', '0']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
        err = capsys.readouterr().err
        assert '--seeds 0 selects no run' in err and 'pass --seeds 1' in err
    assert tool.parse_args(['--seeds', '1']).seeds == [0]
    assert tool.parse_args(['--seeds', '0', '2']).seeds == [0, 2]


def test_simulator_designs_keep_held_out_methods_off_until_frozen(capsys):
    from mmdet_droploss.benchmark.sim_designs import FROZEN_SIM_DESIGN, SIM_DESIGNS
    from mmdet_droploss.roi_sim.methods import SIM_CALIBRATION_METHODS
    tool = _benchmark_tool()
    candidate = next(name for name in SIM_DESIGNS if name != FROZEN_SIM_DESIGN)
    args = tool.parse_args(['--design', candidate])
    assert tuple(args.methods) == SIM_CALIBRATION_METHODS and candidate in args.out
    with pytest.raises(SystemExit):
        tool.parse_args(['--design', candidate, '--methods', 'bce', 'droploss'])
    assert "['droploss'] are held out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        tool.parse_args(['--design', candidate, '--methods', 'vocab150'])
    assert 'not simulator methods' in capsys.readouterr().err


def test_simulator_calibration_requires_gumbel_above_bce():
    """GOL's ordering joins calibration.py's for the simulator; the image benchmark's
    criteria are unchanged."""
    from mmdet_droploss.benchmark.calibration import GUMBEL_ORDERINGS
    from mmdet_droploss.benchmark.simulated import SIM_ORDERINGS
    assert SIM_ORDERINGS == ORDERINGS + GUMBEL_ORDERINGS == ORDERINGS + (('bce', 'gumbel'),)
    results = dict(LVIS_LIKE, gumbel=result('Gumbel', [0.01, 0.02, 0.015], [0.29, 0.30, 0.295]))
    checks = calibrate(results, SIM_ORDERINGS, CALIBRATION_METHODS + ('gumbel',))
    failed = {c.name for c in checks if c.passed is False}
    assert failed == {'APr: BCE < Gumbel', 'AP: BCE < Gumbel'}
    assert verdict(calibrate(LVIS_LIKE), 3) == 'pass'  # the image benchmark's, as before


def test_simulator_compares_table_3_on_its_v05_runs():
    """BEQL and the fixed ratio run on LVIS v0.5's counts (Table 3): their published orderings
    are judged against the v0.5 DropLoss run, Table 2's against the v1 runs."""
    from mmdet_droploss.benchmark.predictions import PUBLISHED_ORDERINGS
    from mmdet_droploss.benchmark.sim_report import sim_orderings
    from mmdet_droploss.roi_sim.methods import METHODS as SIM_METHODS
    for published, sim in zip(PUBLISHED_ORDERINGS, sim_orderings()):
        for method in (sim.low, sim.high):
            assert SIM_METHODS[method].version == (
                'lvis_v0.5' if 'v0.5' in published.source else 'lvis_v1')
        assert (sim.column, sim.published, sim.source) == (
            published.column, published.published, published.source)
