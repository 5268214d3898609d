"""The focal variant (``base_loss='focal'``, the own loss of dense and DETR-style heads): value
and gradient against the focal loss's definition (tests/loss_reference.py) and mmdet's FocalLoss,
how the base loss is chosen, and the argument errors."""
import pytest
import torch
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS

import mmdet_droploss  # noqa: F401
from mmdet_droploss.losses import weighted_sigmoid_bce, weighted_sigmoid_focal

import loss_reference as ref
from test_loss_edge_cases import HOST_SYNC_OPS, OpRecorder

GROUPS = 'rrcfcfrfcc'  # 10 classes, 7 tail
TAIL = [g in 'rc' for g in GROUPS]
FOCAL_ARGS = [(2.0, 0.25), (1.0, 0.6), (0.0, 0.25)]


def build(type_, path, num_classes=len(GROUPS), **kwargs):
    return MODELS.build(dict(type=type_, num_classes=num_classes, categories=path, **kwargs))


def batch(num, seed, num_classes=len(GROUPS)):
    """Logits, labels (about a third foreground) and label weights with some zeros (ignored)."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(num, num_classes, generator=g) * 3
    labels = torch.randint(0, num_classes, (num,), generator=g)
    labels[torch.rand(num, generator=g) > 0.35] = num_classes
    label_weights = (torch.rand(num, generator=g) * 2).round()  # 0, 1 or 2
    return logits, labels, label_weights


def run(module, logits, labels, *args, **kwargs):
    x = logits.clone().requires_grad_(True)
    loss = module(x, labels, *args, **kwargs)
    loss.backward()
    return loss.detach(), x.grad


def check_against_reference(loss, grad, logits, labels, label_weights, weights, normaliser,
                            gamma, alpha):
    row = [w / normaliser for w in label_weights.tolist()]
    args = (logits.tolist(), labels.tolist(), weights, row, gamma, alpha)
    assert loss.item() == pytest.approx(ref.weighted_focal(*args), rel=1e-5)
    torch.testing.assert_close(grad, torch.tensor(ref.weighted_focal_grad(*args)),
                               rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize('gamma, alpha', FOCAL_ARGS)
def test_eql_focal_matches_reference(frequency_file, gamma, alpha):
    logits, labels, label_weights = batch(40, int(gamma * 10))
    module = build('EQL', frequency_file(GROUPS), gamma=gamma, alpha=alpha)
    assert module.base_loss == 'focal'
    avg_factor = torch.tensor(7.0)  # dense heads pass a tensor: the number of positives
    loss, grad = run(module, logits, labels, label_weights, avg_factor=avg_factor)
    w = ref.eql_weights(labels.tolist(), TAIL)
    check_against_reference(loss, grad, logits, labels, label_weights, w, 7.0, gamma, alpha)


@pytest.mark.parametrize('gamma, alpha', FOCAL_ARGS)
def test_beql_focal_matches_reference(frequency_file, gamma, alpha):
    logits, labels, label_weights = batch(40, 3)
    module = build('BEQL', frequency_file(GROUPS), log_base=4.0, gamma=gamma, alpha=alpha)
    loss, grad = run(module, logits, labels, label_weights, avg_factor=5.0)
    w = ref.beql_weights(logits.tolist(), labels.tolist(), TAIL, 4.0)
    check_against_reference(loss, grad, logits, labels, label_weights, w, 5.0, gamma, alpha)


@pytest.mark.parametrize('drop_frequent', [False, True])
def test_drop_loss_focal_matches_reference(frequency_file, drop_frequent):
    logits, labels, label_weights = batch(60, 11)
    module = build('DropLoss', frequency_file(GROUPS), base_loss='focal',
                   drop_frequent=drop_frequent)
    assert (module.gamma, module.alpha) == (2.0, 0.25)  # the focal loss's defaults
    torch.manual_seed(0)
    loss, grad = run(module, logits, labels, label_weights, avg_factor=9.0)
    torch.manual_seed(0)
    uniform = (1 - torch.rand(60, len(GROUPS))).tolist()
    # the ratio counts the foreground samples with a positive weight (here: an ignored anchor)
    counted = [g if w > 0 else len(GROUPS) for g, w in zip(labels.tolist(), label_weights.tolist())]
    w = ref.drop_weights(counted, TAIL, uniform, drop_frequent=drop_frequent)
    w = [w[i] if g == len(GROUPS) else ref.eql_weights([g], TAIL)[0]
         for i, g in enumerate(labels.tolist())]
    check_against_reference(loss, grad, logits, labels, label_weights, w, 9.0, 2.0, 0.25)


def test_without_tail_classes_it_is_mmdet_focal_loss(frequency_file):
    """No tail class: every weight is 1 and the loss is mmdet's own FocalLoss, value and
    gradient, with label weights and a tensor avg_factor, for EQL, BEQL and DropLoss."""
    logits, labels, label_weights = batch(50, 5, num_classes=6)
    path = frequency_file('ffffff')
    expected, expected_grad = run(FocalLoss(gamma=1.5, alpha=0.3, loss_weight=2.0), logits, labels,
                                  label_weights, avg_factor=torch.tensor(4.0))
    for type_ in ('EQL', 'BEQL', 'DropLoss'):
        module = build(type_, path, num_classes=6, gamma=1.5, alpha=0.3, loss_weight=2.0)
        loss, grad = run(module, logits, labels, label_weights, avg_factor=torch.tensor(4.0))
        assert loss.item() == pytest.approx(expected.item(), rel=1e-6), type_
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-8)


def test_gamma_zero_alpha_half_is_half_bce():
    logits, labels, _ = batch(30, 8)
    weights = torch.rand(30, len(GROUPS))
    focal = weighted_sigmoid_focal(logits, labels, weights, avg_factor=3.0, gamma=0.0, alpha=0.5)
    bce = weighted_sigmoid_bce(logits, labels, weights, avg_factor=3.0)
    assert focal.item() == pytest.approx(bce.item() / 2, rel=1e-6)


def test_reductions(frequency_file):
    logits, labels, label_weights = batch(20, 2)
    module = build('EQL', frequency_file(GROUPS), gamma=2.0)
    terms = module(logits, labels, label_weights, reduction_override='none')
    assert terms.shape == logits.shape
    w = torch.tensor(ref.eql_weights(labels.tolist(), TAIL))
    expected = [[label_weights[i].item() * w[i, j].item() *
                 ref.focal(logits[i, j].item(), int(labels[i] == j), 2.0, 0.25)
                 for j in range(len(GROUPS))] for i in range(20)]
    torch.testing.assert_close(terms, torch.tensor(expected), rtol=1e-5, atol=1e-7)
    total = module(logits, labels, label_weights, reduction_override='sum')
    assert total.item() == pytest.approx(terms.sum().item(), rel=1e-5)
    mean = module(logits, labels, label_weights)  # no avg_factor: per-sample mean
    assert mean.item() == pytest.approx(terms.sum().item() / 20, rel=1e-5)


def test_extreme_and_low_precision_logits(frequency_file):
    module = build('BEQL', frequency_file('rcff'), num_classes=4, gamma=2.0)
    x = torch.tensor([[-100., 100., -100., 100.], [100., -100., 100., -100.]], requires_grad=True)
    loss = module(x, torch.tensor([4, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # row 1 is class 0 at logit 100: nothing left to learn there; a confident negative at 100
    # gets the full (1 - alpha) * p^gamma * p / N: frequent class 2 here, and on the background
    # row 0 tail class 1 (BEQL keeps a confident background term: weight 1) and class 3
    assert x.grad[1, 0].item() == pytest.approx(0.0)
    for i, j in ((1, 2), (0, 1), (0, 3)):
        assert x.grad[i, j].item() == pytest.approx(0.75 / 2)
    for dtype in (torch.float16, torch.bfloat16):
        logits, labels, _ = batch(12, 4, num_classes=4)
        low = logits.to(dtype).requires_grad_(True)
        value = module(low, labels, avg_factor=3.0)
        value.backward()
        assert value.dtype == torch.float32 and low.grad.dtype == dtype
        assert value.item() == pytest.approx(module(low.detach().float(), labels, avg_factor=3.0)
                                             .item(), rel=1e-6)


@pytest.mark.parametrize('type_', ['EQL', 'BEQL', 'DropLoss'])
def test_focal_training_step_has_no_host_sync(frequency_file, type_):
    module = build(type_, frequency_file('rcff'), num_classes=4, gamma=2.0, sync_counts=True) \
        if type_ == 'DropLoss' else build(type_, frequency_file('rcff'), num_classes=4, gamma=2.0)
    labels = torch.tensor([0, 2, 4, 4, 1, 4, 3, 4])
    x = torch.randn(8, 4, requires_grad=True)
    module(x, labels, torch.ones(8), avg_factor=torch.tensor(3.0))  # validates labels once
    recorder = OpRecorder()
    with recorder:
        module(x, labels, torch.ones(8), avg_factor=torch.tensor(3.0)).backward()
    assert recorder.ops and not HOST_SYNC_OPS & set(recorder.ops)


# ---------------------------------------------------------------------------------------------
# Choosing the base loss, and the argument errors
# ---------------------------------------------------------------------------------------------
def test_base_loss_choice(frequency_file):
    path = frequency_file('rcff')
    assert build('DropLoss', path, num_classes=4).base_loss == 'bce'  # on its own: the paper's
    assert build('EQL', path, num_classes=4, alpha=0.5).base_loss == 'focal'
    focal = build('EQL', path, num_classes=4, base_loss='focal', gamma=1)
    assert (focal.gamma, focal.alpha) == (1.0, 0.25) and 'focal(gamma=1.0' in repr(focal)
    # what a RetinaNet config's FocalLoss leaves behind when the type is swapped
    inherited = build('DropLoss', path, num_classes=4, use_sigmoid=True, gamma=2.0, alpha=0.25,
                      loss_weight=1.0)
    assert inherited.base_loss == 'focal' and inherited.use_sigmoid is True


@pytest.mark.parametrize('kwargs, error, message', [
    (dict(base_loss='bce', gamma=2.0), ValueError, "focal-loss arguments but base_loss='bce'"),
    (dict(base_loss='softmax'), ValueError, r"base_loss must be one of \('bce', 'focal'\)"),
    (dict(gamma=-1.0), ValueError, 'gamma must be a number >= 0'),
    (dict(alpha=1.5), ValueError, r'alpha must be a number in \[0, 1\]'),
    (dict(use_sigmoid=False), ValueError, r"use_sigmoid=False.*_delete_=True, type='EQL'"),
    (dict(class_weight=1.0, bg_cls_weight=0.1), ValueError,
     "bg_cls_weight, class_weight: settings of a softmax loss"),
    (dict(gama=2.0), TypeError, r"unexpected argument\(s\) \['gama'\]"),
])
def test_argument_errors(frequency_file, kwargs, error, message):
    with pytest.raises(error, match=message):
        build('EQL', frequency_file('rcff'), num_classes=4, **kwargs)
