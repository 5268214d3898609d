"""EQL, BEQL and DropLoss against the paper's formulas (tests/loss_reference.py) and the
issue's test vector."""
import math

import pytest
import torch
from mmdet.models.losses import CrossEntropyCustomLoss
from mmdet.registry import MODELS

import mmdet_droploss  # noqa: F401  (registers the losses)
from mmdet_droploss.losses import drop_background_weights, drop_keep_probability, weighted_sigmoid_bce

import loss_reference as ref

# The test vector of issue 2: tail = classes 0 and 1, label 4 = background, "keep iff U <= r".
LOGITS = [[.5, -1, 2, -3], [-.2, .3, -.7, 1.1], [1.5, -.5, 0, -2], [-1, .8, .4, .2], [.9, -.3, -1.2, .6]]
LABELS = [1, 3, 4, 4, 4]
UNIFORM = [[.9, .1, .2, .3], [.4, .6, .2, .1], [.3, .7, .5, .5], [.5, .49, .1, .9], [.51, .2, .8, .05]]
DROP_WEIGHTS = [[0, 1, 1, 1], [0, 0, 1, 1], [1, 0, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1]]


def build(type_, groups_file, **kwargs):
    num_classes = kwargs.pop('num_classes', None)
    import json
    with open(groups_file) as f:
        num_classes = num_classes or len(json.load(f)['categories'])
    return MODELS.build(dict(type=type_, num_classes=num_classes, categories=groups_file, **kwargs))


def random_batch(num_proposals, groups, seed, fg_fraction=0.3):
    g = torch.Generator().manual_seed(seed)
    c = len(groups)
    logits = torch.randn(num_proposals, c, generator=g) * 2
    labels = torch.randint(0, c, (num_proposals,), generator=g)
    is_bg = torch.rand(num_proposals, generator=g) > fg_fraction
    labels[is_bg] = c
    return logits, labels


def loss_and_grad(loss_module, logits, labels, **kwargs):
    x = logits.clone().requires_grad_(True)
    loss = loss_module(x, labels, **kwargs)
    loss.backward()
    return loss.detach(), x.grad


# ---------------------------------------------------------------------------------------------
# The test vector
# ---------------------------------------------------------------------------------------------
def test_test_vector_drop_weights_and_loss(frequency_file):
    tail = torch.tensor([True, True, False, False])
    labels = torch.tensor(LABELS)
    keep = drop_keep_probability(labels, tail)
    assert keep.tolist() == [0.5, 0.5, 1.0, 1.0]
    bg_weights = drop_background_weights(keep, 5, uniform=torch.tensor(UNIFORM))

    loss = build('DropLoss', frequency_file('rcff'))
    weights = torch.where((labels == 4).unsqueeze(1), bg_weights.float(),
                          mmdet_droploss.losses.foreground_weights(labels, tail).float())
    assert weights.tolist() == DROP_WEIGHTS
    value = weighted_sigmoid_bce(torch.tensor(LOGITS), labels, weights, avg_factor=5)
    assert value.item() == pytest.approx(2.350286, abs=1e-6)
    assert loss.tail_mask.tolist() == tail.tolist()


def test_test_vector_through_the_module(frequency_file, monkeypatch):
    """The registered DropLoss draws U itself: replay the vector's U through torch.rand."""
    loss = build('DropLoss', frequency_file('rcff'))
    loss.keep_weights = True
    monkeypatch.setattr(torch, 'rand', lambda shape, device=None: 1 - torch.tensor(UNIFORM))
    value = loss(torch.tensor(LOGITS), torch.tensor(LABELS), avg_factor=5)
    monkeypatch.undo()
    assert loss.last_weights.tolist() == DROP_WEIGHTS
    assert value.item() == pytest.approx(2.350286, abs=1e-6)


def test_test_vector_eql_and_bce(frequency_file):
    logits, labels = torch.tensor(LOGITS), torch.tensor(LABELS)
    eql = build('EQL', frequency_file('rcff'))
    assert eql(logits, labels, avg_factor=5).item() == pytest.approx(2.693332, abs=1e-6)
    # The paper's BCE baseline is mmdet's CrossEntropyCustomLoss with use_sigmoid=True.
    bce = CrossEntropyCustomLoss(use_sigmoid=True, num_classes=4)
    assert bce(logits, labels, avg_factor=5).item() == pytest.approx(3.178646, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# Random inputs against the naive references: value and gradient
# ---------------------------------------------------------------------------------------------
GROUPS = 'rrcfcfrfcc'  # 10 classes, 7 tail


@pytest.mark.parametrize('seed', range(3))
def test_eql_matches_reference(frequency_file, seed):
    logits, labels = random_batch(40, GROUPS, seed)
    tail = [g in 'rc' for g in GROUPS]
    w = ref.eql_weights(labels.tolist(), tail)
    loss, grad = loss_and_grad(build('EQL', frequency_file(GROUPS)), logits, labels, avg_factor=40)
    assert loss.item() == pytest.approx(ref.weighted_loss(logits.tolist(), labels.tolist(), w, 40), rel=1e-5)
    torch.testing.assert_close(grad, torch.tensor(ref.weighted_grad(logits.tolist(), labels.tolist(), w, 40)))


@pytest.mark.parametrize('base', [2.0, 4.0, 5.0])
def test_beql_matches_reference(frequency_file, base):
    logits, labels = random_batch(40, GROUPS, int(base))
    tail = [g in 'rc' for g in GROUPS]
    w = ref.beql_weights(logits.tolist(), labels.tolist(), tail, base)
    beql = build('BEQL', frequency_file(GROUPS), log_base=base)
    loss, grad = loss_and_grad(beql, logits, labels, avg_factor=40)
    assert loss.item() == pytest.approx(ref.weighted_loss(logits.tolist(), labels.tolist(), w, 40), rel=1e-5)
    # The weights are constants: the gradient is w * (p - y) / N, not the derivative of w.
    torch.testing.assert_close(grad, torch.tensor(ref.weighted_grad(logits.tolist(), labels.tolist(), w, 40)))


def test_beql_approaches_eql_for_large_base(frequency_file):
    logits, labels = random_batch(40, GROUPS, 7)
    eql = build('EQL', frequency_file(GROUPS))(logits, labels).item()
    values = [build('BEQL', frequency_file(GROUPS), log_base=b)(logits, labels).item()
              for b in (2.0, 4.0, 1e6, 1e300)]
    # A larger base keeps more of the background terms: monotone up to EQL ...
    assert values == sorted(values) and values[-1] < eql
    # ... which it reaches as 1 / ln(b) -> 0 (here max(-ln p) / ln(1e300) < 2%).
    assert values[-1] == pytest.approx(eql, rel=2e-3)


def read_weights_from_gradient(logits, labels, grad, normaliser):
    """w_ij = grad_ij * N / (p_ij - y_ij): the exact weights, since p - y is never 0."""
    p = logits.sigmoid()
    y = torch.nn.functional.one_hot(labels, logits.size(1) + 1)[:, :-1].float()
    return (grad * normaliser / (p - y)).double()


@pytest.mark.parametrize('drop_frequent', [False, True])
def test_drop_loss_value_and_gradient_match_reference(frequency_file, drop_frequent):
    logits, labels = random_batch(60, GROUPS, 11)
    tail = [g in 'rc' for g in GROUPS]
    loss_module = build('DropLoss', frequency_file(GROUPS), drop_frequent=drop_frequent)
    torch.manual_seed(0)
    loss, grad = loss_and_grad(loss_module, logits, labels, avg_factor=60)
    torch.manual_seed(0)
    uniform = (1 - torch.rand(60, len(GROUPS))).tolist()
    w = ref.drop_weights(labels.tolist(), tail, uniform, drop_frequent=drop_frequent)
    assert loss.item() == pytest.approx(ref.weighted_loss(logits.tolist(), labels.tolist(), w, 60), rel=1e-5)
    torch.testing.assert_close(grad, torch.tensor(ref.weighted_grad(logits.tolist(), labels.tolist(), w, 60)))
    recovered = read_weights_from_gradient(logits, labels, grad, 60)
    torch.testing.assert_close(recovered, torch.tensor(w, dtype=torch.double), atol=1e-4, rtol=0)


@pytest.mark.parametrize('drop_frequent', [False, True])
def test_drop_loss_weight_statistics(frequency_file, drop_frequent):
    """Over many draws, each background (tail) entry is kept with probability n_tail / n_fg;
    frequent entries are always kept (released code) or kept with n_freq / n_fg (eq. 7)."""
    groups = 'rcff'
    loss_module = build('DropLoss', frequency_file(groups), drop_frequent=drop_frequent)
    # 3 tail fg (classes 0, 1), 2 frequent fg, 395 background -> r = 0.6.
    labels = torch.tensor([0, 1, 1, 2, 3] + [4] * 395)
    logits = torch.randn(400, 4)
    torch.manual_seed(1)
    kept = torch.zeros(395, 4, dtype=torch.double)
    draws = 50
    for _ in range(draws):
        _, grad = loss_and_grad(loss_module, logits, labels, avg_factor=400)
        w = read_weights_from_gradient(logits, labels, grad, 400)
        assert torch.all((w - w.round()).abs() < 1e-4), 'weights must be exactly 0 or 1'
        kept += w[5:].round()
        # Foreground rows are EQL's, whatever the draw.
        torch.testing.assert_close(w[:5].round(), torch.tensor(
            ref.eql_weights(labels[:5].tolist(), [True, True, False, False]), dtype=torch.double))
    rate = kept / draws
    n = 395 * draws * 2
    for cols, expected in (((0, 1), 0.6), ((2, 3), 0.4 if drop_frequent else 1.0)):
        mean = rate[:, list(cols)].mean().item()
        std = math.sqrt(expected * (1 - expected) / n)
        assert abs(mean - expected) <= 5 * std + 1e-12, (cols, mean, expected)
    # Independent draws: the per-entry keep counts over the draws spread like a binomial.
    per_entry = rate[:, :2] * draws
    assert per_entry.var().item() == pytest.approx(draws * 0.6 * 0.4, rel=0.15)


def test_fixed_drop_ratio_ignores_the_batch(frequency_file):
    loss_module = build('DropLoss', frequency_file('rcff'), drop_ratio=0.3)
    for labels in (torch.tensor([0] * 5 + [4] * 395), torch.tensor([3] * 5 + [4] * 395)):
        keep = loss_module.keep_probability(labels)
        torch.testing.assert_close(keep, torch.tensor([0.7, 0.7, 1.0, 1.0]))
    torch.manual_seed(2)
    loss_module.keep_weights = True
    loss_module(torch.randn(400, 4), torch.tensor([0] * 5 + [4] * 395))
    tail_bg = loss_module.last_weights[5:, :2]
    assert tail_bg.mean().item() == pytest.approx(0.7, abs=5 * math.sqrt(0.21 / tail_bg.numel()))
    assert loss_module.last_weights[5:, 2:].eq(1).all()


# ---------------------------------------------------------------------------------------------
# mmdet's loss conventions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize('type_', ['EQL', 'BEQL', 'DropLoss'])
def test_reduction_loss_weight_and_label_weights(frequency_file, type_):
    logits, labels = random_batch(30, GROUPS, 5)
    label_weights = torch.rand(30)
    module = build(type_, frequency_file(GROUPS), loss_weight=2.5)
    module.keep_weights = True
    torch.manual_seed(3)
    per_entry = module(logits, labels, label_weights, reduction_override='none')
    weights = module.last_weights
    assert per_entry.shape == (30, len(GROUPS))
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.nn.functional.one_hot(labels, len(GROUPS) + 1)[:, :-1].float(), reduction='none')
    torch.testing.assert_close(per_entry, 2.5 * weights * label_weights[:, None] * bce)
    torch.manual_seed(3)
    assert module(logits, labels, label_weights, reduction_override='sum').item() == pytest.approx(
        per_entry.sum().item(), rel=1e-5)
    torch.manual_seed(3)
    assert module(logits, labels, label_weights, avg_factor=7.0).item() == pytest.approx(
        per_entry.sum().item() / 7.0, rel=1e-5)
    torch.manual_seed(3)
    # Without avg_factor, 'mean' is per proposal (the paper's 1/N), not over the N * C terms.
    assert module(logits, labels, label_weights).item() == pytest.approx(per_entry.sum().item() / 30, rel=1e-5)


def test_drop_counts_ignore_zero_weight_proposals(frequency_file):
    labels = torch.tensor([0, 0, 3, 3, 4])
    tail = torch.tensor([True, True, False, False])
    assert drop_keep_probability(labels, tail)[0].item() == 0.5
    weights = torch.tensor([1., 1., 1., 0., 1.])
    assert drop_keep_probability(labels, tail, weights)[0].item() == pytest.approx(2 / 3)


def test_activation_and_accuracy(frequency_file):
    module = build('DropLoss', frequency_file('rcff'))
    logits = torch.tensor([[3., -1, -2, -3], [-3., -1, -2, -1], [-2., 2, -1, -1], [0.5, -1, 1.5, -2]])
    labels = torch.tensor([0, 4, 2, 4])
    scores = module.get_activation(logits)
    assert scores.shape == (4, 5)
    torch.testing.assert_close(scores[:, :4], logits.sigmoid())
    assert scores[:, 4].eq(0).all()
    acc = module.get_accuracy(logits, labels)
    # predictions: 0 (right), bg (right), 1 (wrong), 2 (wrong: it is background)
    assert acc['acc'].item() == pytest.approx(50.0)
    # foreground top-1: row 0 right, row 2 wrong
    assert acc['acc_fg'].item() == pytest.approx(50.0)
    assert module.get_accuracy(logits[[1]], labels[[1]])['acc_fg'].item() == 0.0
    assert module.get_cls_channels(4) == 4
