"""GOL's Gumbel activation p = exp(-exp(-x)) (Alexandridis et al., ECCV 2022) in the
sigmoid-family losses: value and hand-written gradient against a float64 transcription of the
authors' loss (clamped logits, BCE on p), extreme logits, the weight rules that read p, the
test-time scores, the bad inputs, and Mask R-CNN / Cascade Mask R-CNN with a Gumbel DropLoss."""
import math

import numpy as np
import pytest
import torch
from mmdet.registry import MODELS

from mmdet_droploss.losses import (GUMBEL_LOGIT_RANGE, activation_function,
                                   beql_background_weights, weighted_sigmoid_bce)

GROUPS = 'rrcff'
C = len(GROUPS)
LOSSES = {
    'BCE': dict(type='BCE'),
    'EQL': dict(type='EQL'),
    'BEQL': dict(type='BEQL', log_base=4.0),
    'DropLoss': dict(type='DropLoss'),
    'fixed ratio': dict(type='DropLoss', drop_ratio=0.5),
    'FederatedLoss': dict(type='FederatedLoss', num_sample_classes=3),
}


def gumbel_bce_reference(x, targets):
    """GOL's training loss, transcribed from their code: the logit clamped to [-4, 10], then
    ``F.binary_cross_entropy`` on ``p = 1 / exp(exp(-x))`` (float64, element-wise)."""
    x = x.clamp(min=-4, max=10)
    p = 1 / torch.exp(torch.exp(-x))
    y = targets.double()
    return -(y * torch.log(p) + (1 - y) * torch.log(1 - p))


def one_hot(labels, num_classes):
    return torch.nn.functional.one_hot(labels, num_classes + 1)[:, :num_classes]


def batch(seed, n=40, scale=4.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, C, generator=g) * scale
    labels = torch.randint(0, C + 1, (n,), generator=g)
    labels[: n // 2] = C  # half background
    return x, labels


@pytest.fixture
def freq(frequency_file):
    return frequency_file(GROUPS)


def build(freq, cfg, **kwargs):
    return MODELS.build(dict(cfg, num_classes=C, categories=freq, **kwargs))


def beql_weights_reference(x, labels, tail, base):
    """BEQL's eq. (4) with the Gumbel p: background rows ``1 - T_j min(-log_b p, 1)``,
    foreground rows EQL's ``1 - T_j (1 - y)``."""
    p = torch.exp(-torch.exp(-x.double()))
    y = one_hot(labels, C).double()
    is_bg = (labels == C).double()[:, None]
    tail = tail.double()[None]
    fg = 1 - (1 - is_bg) * tail * (1 - y)
    bg = 1 - tail * torch.clamp(-torch.log(p) / math.log(base), max=1)
    return is_bg * bg + (1 - is_bg) * fg


@pytest.mark.parametrize('name', list(LOSSES))
@pytest.mark.parametrize('seed', range(2))
def test_value_and_gradient_match_the_reference(freq, name, seed):
    """Every loss with activation='gumbel': the hand-written backward of the core against
    autograd over the authors' formula, under the loss's own weights (BEQL's from the Gumbel p,
    checked against eq. (4) too)."""
    loss = build(freq, LOSSES[name], activation='gumbel')
    loss.keep_weights = True
    x, labels = batch(seed)
    label_weights = (torch.arange(len(labels)) % 5 != 0).float()
    x.requires_grad_()
    torch.manual_seed(seed)
    value = loss(x, labels, label_weights, avg_factor=30.0)
    value.backward()
    weights = loss.last_weights.double()
    if name == 'BCE':
        assert weights.eq(1).all()
    if name == 'BEQL':
        expected_weights = beql_weights_reference(x.detach(), labels, loss.tail_mask, 4.0)
        np.testing.assert_allclose(weights.numpy(), expected_weights.numpy(), rtol=1e-5, atol=1e-6)
    x_ref = x.detach().double().requires_grad_()
    terms = gumbel_bce_reference(x_ref, one_hot(labels, C)) * weights
    expected = (terms * label_weights.double()[:, None]).sum() / 30.0
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), x_ref.grad.numpy(), rtol=1e-4, atol=1e-8)


def test_droploss_weight_rule_does_not_read_p(freq):
    """DropLoss (and its fixed ratio) draw from foreground counts only: the same seed gives the
    same weights with either activation, while the loss values differ."""
    for cfg in (LOSSES['DropLoss'], LOSSES['fixed ratio']):
        values, weights = [], []
        for activation in ('sigmoid', 'gumbel'):
            loss = build(freq, cfg, activation=activation)
            loss.keep_weights = True
            x, labels = batch(5)
            torch.manual_seed(0)
            values.append(loss(x, labels).item())
            weights.append(loss.last_weights)
        assert torch.equal(weights[0], weights[1]) and values[0] != pytest.approx(values[1])


def test_reduction_none_is_the_element_wise_loss(freq):
    loss = build(freq, LOSSES['EQL'], activation='gumbel')
    loss.keep_weights = True
    x, labels = batch(3)
    terms = loss(x, labels, reduction_override='none')
    expected = gumbel_bce_reference(x.double(), one_hot(labels, C)) * loss.last_weights.double()
    np.testing.assert_allclose(terms.numpy(), expected.numpy(), rtol=1e-5, atol=1e-7)


EXTREME = torch.tensor([-1e3, -100., -88.8, -20., -4.0001, -4., -3.9999, -1., 0., 0.3665,
                        1., 9.9999, 10., 10.0001, 20., 88.8, 100., 1e3])


@pytest.mark.parametrize('target', [0, 1])
def test_extreme_logits_give_finite_values_and_gradients(target):
    """Up to |x| = 1e3: finite loss and gradient, the authors' clamp (the value at the bound
    and no gradient outside [-4, 10], bounds included as torch.clamp's backward), and the
    autograd path of reduction='none' agreeing with the hand-written one."""
    n = EXTREME.numel()
    x = EXTREME.clone().unsqueeze(1).requires_grad_()  # (n, 1): one class
    labels = torch.full((n,), 0 if target else 1)
    ones = torch.ones(n, 1)
    value = weighted_sigmoid_bce(x, labels, ones, reduction='sum', activation='gumbel')
    value.backward()
    x_ref = EXTREME.double().unsqueeze(1).requires_grad_()
    expected = gumbel_bce_reference(x_ref, torch.full((n, 1), target))
    expected.sum().backward()
    assert torch.isfinite(value) and torch.isfinite(x.grad).all()
    assert value.item() == pytest.approx(expected.sum().item(), rel=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), x_ref.grad.numpy(), rtol=1e-5, atol=1e-30)
    low, high = GUMBEL_LOGIT_RANGE
    outside = (EXTREME < low) | (EXTREME > high)
    assert x.grad[outside].eq(0).all() and x.grad[~outside].ne(0).all()
    x2 = EXTREME.clone().unsqueeze(1).requires_grad_()
    terms = weighted_sigmoid_bce(x2, labels, ones, reduction='none', activation='gumbel')
    terms.sum().backward()
    # (the float64 reference rounds the ~2e-24 loss of a negative at x <= -4 to 0)
    np.testing.assert_allclose(terms.detach().numpy(), expected.detach().numpy(), rtol=1e-6,
                               atol=1e-20)
    # (autograd through expm1 rounds the ~1e-22 gradient of a negative at x = -4 to 0)
    np.testing.assert_allclose(x2.grad.numpy(), x.grad.numpy(), rtol=1e-5, atol=1e-20)


def test_float32_terms_are_accurate_across_the_range():
    """Inside [-4, 10] each float32 term and gradient matches float64 to ~2e-6 relative: the
    closed forms keep 1 - p where p rounds to 1 and where it rounds to 0, and the positive
    gradient -exp(-x) is written, not obtained as a difference near 1. The float64 reference
    takes -log(1 - exp(-u)) by the usual two-branch rule (log1p(-exp(-u)) for u > log 2,
    log(-expm1(-u)) below)."""
    act = activation_function('gumbel')
    x = torch.linspace(-4, 10, 4001)
    x64 = x.double().requires_grad_()
    u = torch.exp(-x64)
    negative = -torch.where(u > math.log(2), torch.log1p(-torch.exp(-u)),
                            torch.log(-torch.expm1(-u)))
    (grad_positive,) = torch.autograd.grad(u.sum(), x64)
    # d/dx -log(1 - p) = p u / (1 - p) by hand: autograd through expm1 rounds it to 0 near
    # x = -4 (its backward uses expm1(-u) + 1), even in float64
    u = u.detach()
    grad_negative = torch.exp(-u) * u / (1 - torch.exp(-u))
    for ours, ref in ((act.negative(x), negative), (act.negative_grad(x), grad_negative),
                      (act.positive_grad(x), grad_positive)):
        np.testing.assert_allclose(ours.numpy(), ref.detach().numpy(), rtol=3e-6, atol=1e-30)
    # a difference of the two, zero at p = 1/2: accurate to a float32 rounding of the larger
    np.testing.assert_allclose(act.target_delta(x).numpy(), (u - negative).detach().numpy(),
                               rtol=2e-6, atol=1e-5)


def test_test_time_scores_and_accuracy(freq):
    """get_activation gives exp(-exp(-x)) (not clamped: finite and monotone over any logit)
    with a zero background column; the accuracy's foreground threshold is p = 1/2, i.e.
    x = -log(log 2) = 0.3665."""
    loss = build(freq, LOSSES['DropLoss'], activation='gumbel')
    x = EXTREME.view(-1, 1).expand(-1, C)
    scores = loss.get_activation(x)
    expected = torch.exp(-torch.exp(-x.double()))
    assert scores.shape == (x.size(0), C + 1) and scores[:, C].eq(0).all()
    np.testing.assert_allclose(scores[:, :C].numpy(), expected.numpy(), rtol=1e-5, atol=1e-38)
    assert torch.isfinite(scores).all() and scores[0, 0] == 0 and scores[-1, 0] == 1
    assert (scores[1:, 0] >= scores[:-1, 0]).all()
    logits = torch.tensor([[0.3, -5., -5., -5., -5.], [0.4, -5., -5., -5., -5.]])
    labels = torch.tensor([C, 0])  # p(0.3) = 0.477: background; p(0.4) = 0.512: class 0
    assert loss.get_accuracy(logits, labels)['acc'].item() == pytest.approx(100.0)


def test_beql_background_weights_at_extreme_logits():
    tail = torch.tensor([True, False])
    x = torch.tensor([[-1e3, -1e3], [1e3, 1e3], [0.0, 0.0]])
    weights = beql_background_weights(x, tail, 4.0, activation='gumbel')
    assert torch.isfinite(weights).all()
    # -log_4 p = exp(-x) / log 4: weight 0 when p is tiny, 1 when p -> 1, 1 - 1/log(4) at 0
    np.testing.assert_allclose(weights[:, 0].numpy(), [0.0, 1.0, 1 - 1 / math.log(4)], rtol=1e-6)
    assert weights[:, 1].eq(1).all()


def test_sigmoid_is_unchanged_by_default(freq):
    """activation='sigmoid' (the default) is mmdet's sigmoid BCE: BCE equals
    CrossEntropyCustomLoss in value and gradient."""
    ours = build(freq, LOSSES['BCE'])
    assert ours.activation == 'sigmoid'
    mmdet = MODELS.build(dict(type='CrossEntropyCustomLoss', use_sigmoid=True, num_classes=C))
    x, labels = batch(9)
    grads = []
    for loss in (ours, mmdet):
        xi = x.clone().requires_grad_()
        value = loss(xi, labels, torch.ones(len(labels)), avg_factor=len(labels))
        value.backward()
        grads.append((value.item(), xi.grad))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-6)
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize('cfg, kwargs, error, message', [
    (LOSSES['DropLoss'], dict(activation='tanh'), ValueError,
     r"DropLoss: activation must be one of \('sigmoid', 'gumbel'\), got 'tanh'"),
    (LOSSES['BCE'], dict(activation=None), ValueError, r"BCE: activation must be one of"),
    (LOSSES['EQL'], dict(activation='Gumbel'), ValueError, r"EQL: activation must be one of"),
    (dict(type='EQLv2'), dict(activation='gumbel'), ValueError,
     r"EQLv2: activation='gumbel' is not defined for this loss .*sigmoid probabilities"),
    (LOSSES['BEQL'], dict(activation='gumbel', base_loss='focal'), ValueError,
     r"BEQL: activation='gumbel' changes the BCE .*Set base_loss='bce'"),
    (LOSSES['DropLoss'], dict(activation='gumbel', gamma=2.0), ValueError,
     r"focal base loss is sigmoid-only"),
])
def test_bad_arguments(freq, cfg, kwargs, error, message):
    with pytest.raises(error, match=message):
        build(freq, cfg, **kwargs)


def test_refused_on_dense_heads(freq):
    """Dense heads score with the sigmoid themselves: a Gumbel-trained classifier would be
    scored with another activation than it was trained for."""
    from mmdet.models.dense_heads import RetinaHead
    with pytest.raises(ValueError, match=r"DropLoss: activation='gumbel' needs the RoI head's "
                                         r"score hook .*dense head"):
        RetinaHead(num_classes=C, in_channels=8, feat_channels=8, stacked_convs=1,
                   loss_cls=dict(type='DropLoss', num_classes=C, categories=freq,
                                 use_sigmoid=True, base_loss='bce', activation='gumbel'))


#: GOL's classifier init: the bias inside the clamp range (-2, p = 6e-4), as their configs
GOL_HEAD_INIT = [
    dict(type='Constant', val=0.001, bias=-2.0, override=dict(name='fc_cls')),
    dict(type='Normal', std=0.001, override=dict(name='fc_reg')),
    dict(type='Xavier', distribution='uniform',
         override=[dict(name='shared_fcs'), dict(name='cls_fcs'), dict(name='reg_fcs')]),
]


@pytest.mark.parametrize('detector', ['mask_rcnn', 'cascade_mask_rcnn'])
def test_mask_rcnn_and_cascade_train_a_step_and_predict(detector, tmp_path, frequency_file):
    from roi_detector import GROUPS as DETECTOR_GROUPS, NUM_CLASSES, assert_detections, \
        assert_trained, train_step_and_predict
    loss_cls = dict(type='DropLoss', num_classes=NUM_CLASSES,
                    categories=frequency_file(DETECTOR_GROUPS), activation='gumbel')
    run = train_step_and_predict(detector, loss_cls, tmp_path, init_cfg=GOL_HEAD_INIT)
    assert_trained(run, detector, NUM_CLASSES)
    assert all(head.loss_cls.activation == 'gumbel' for head in run.heads)
    expected = torch.exp(-torch.exp(-run.logits)) if len(run.heads) == 1 else None
    assert_detections(run, expected)
