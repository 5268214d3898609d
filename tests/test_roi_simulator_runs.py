"""The simulator's run-level rules: the trace of a gradient-guided loss's own statistics
(EQLv2's ``P / M`` and the negative weights it gives, checked against the loss's formulas
computed independently), the data set a design's seeds share, the head a method's config
initialises."""
import numpy as np
import torch

from mmdet_droploss.losses.eqlv2 import EQLv2
from mmdet_droploss.losses.eql import EQL
from mmdet_droploss.roi_sim.methods import METHODS
from mmdet_droploss.roi_sim.run import LossStatisticsTrace
from mmdet_droploss.roi_sim.training import build_head


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def test_trace_follows_eqlv2s_ratio_and_weights():
    num_classes = 1203
    rng = np.random.default_rng(0)
    group_index = np.arange(num_classes) % 3
    loss = EQLv2(num_classes, categories='lvis_v1', gamma=12.0, mu=0.8)
    neg = rng.uniform(1, 10, num_classes).astype(np.float32)
    # the three groups around EQLv2's centre 0.8: weights from near 0 to near 1
    pos = (neg * rng.uniform(0.2, 1.4, num_classes) * (0.5 + group_index / 4)).astype(np.float32)
    loss.pos_grad.copy_(torch.tensor(pos))
    loss.neg_grad.copy_(torch.tensor(neg))
    loss.num_updates.fill_(5)
    trace = LossStatisticsTrace(loss, group_index, total_steps=100, points=4)
    for step in range(100):
        trace(step, None, None, 1.0)
    assert [p['step'] for p in trace.trace] == [0, 25, 50, 75]
    point = trace.trace[-1]
    for g, group in enumerate(('rare', 'common', 'frequent')):
        ratio = pos[group_index == g] / neg[group_index == g]
        weight = _sigmoid(12.0 * (ratio - 0.8))
        assert abs(point[group]['ratio_median'] - np.median(ratio)) <= 1e-4
        assert abs(point[group]['negative_weight_mean'] - weight.mean()) < 1e-4


def test_trace_is_empty_for_a_loss_without_statistics():
    loss = EQL(num_classes=1203, categories='lvis_v1')
    trace = LossStatisticsTrace(loss, np.zeros(1203, dtype=np.int64), total_steps=10)
    for step in range(10):
        trace(step, None, None, 1.0)
    assert trace.trace == []


def test_a_fixed_data_seed_gives_every_run_seed_the_same_data_set(monkeypatch):
    import dataclasses

    from mmdet_droploss.roi_sim import SimulatorSpec, run

    # the three draws stand in for the generator's (each reads the data set's rng)
    monkeypatch.setattr(run, 'draw_images', lambda *a: a[-1].random())
    monkeypatch.setattr(run, 'FeatureModel', lambda *a: a[-1].random())
    monkeypatch.setattr(run, 'draw_validation', lambda *a: a[-1].random())

    def drawn(spec, seed):
        data = run.simulate_data(spec, seed)
        return data.train_images, data.features, data.val

    per_seed = SimulatorSpec()
    fixed = dataclasses.replace(per_seed, data_seed=0)
    assert drawn(fixed, 0) == drawn(fixed, 1) == drawn(fixed, 2) == drawn(per_seed, 0)
    assert drawn(per_seed, 1) != drawn(per_seed, 0)


def test_report_only_trains_nothing(tmp_path, monkeypatch):
    from mmdet_droploss.benchmark import sim_benchmark
    from mmdet_droploss.benchmark.sim_designs import SIM_DESIGNS

    def no_training(*args, **kwargs):
        raise AssertionError('--report-only trained a run')

    monkeypatch.setattr(sim_benchmark, 'run_all', no_training)
    monkeypatch.setattr(sim_benchmark, 'simulate_data', lambda spec, seed: None)
    monkeypatch.setattr(sim_benchmark, 'generator_statistics', lambda data, spec: [])
    report = sim_benchmark.run_simulator_benchmark(SIM_DESIGNS['roi_v1e'], ['bce', 'eql'], [0],
                                                   str(tmp_path), report_only=True)
    assert '0 of 2 runs finished' in report
    assert not (tmp_path / 'runs').exists()


def test_head_with_the_2fc_layers_is_initialised_by_the_method_config():
    """``hidden_fcs``: mmdet's ConvFCBBoxHead; the config's init for the classifier (the
    prior bias, GOL's constant) and for the shared layers (Xavier: weights within its bound,
    biases 0), and entries for layers the head has not (fc_reg) dropped."""
    for method, bias in (('bce', -np.log((1 - 0.001) / 0.001)), ('gumbel', -2.0),
                         ('eqlv2', 0.0)):
        loss, init = METHODS[method].loss_and_init()
        head = build_head(loss, init, 1203, 64, hidden_fcs=2, hidden_width=32)
        assert type(head).__name__ == 'ConvFCBBoxHead' and len(head.shared_fcs) == 2
        assert not hasattr(head, 'fc_reg')
        assert torch.allclose(head.fc_cls.bias, torch.full_like(head.fc_cls.bias, bias))
        first = head.shared_fcs[0]
        bound = np.sqrt(6 / (first.in_features + first.out_features))
        assert first.weight.abs().max() <= bound and first.weight.std() > bound / 3
        assert torch.equal(first.bias, torch.zeros_like(first.bias))
        assert head(torch.randn(5, 64))[0].shape == (5, head.fc_cls.out_features)
