"""EQLv2 against an independent float64 reference, over consecutive steps (its weights depend
on the gradients of all previous steps), on 2 processes, and across a checkpoint save / resume
(tests/gradient_statistics_checks.py)."""
import functools

import numpy as np
import pytest
import torch

from gradient_statistics_checks import check_resume, check_two_processes
from mmdet.registry import MODELS

import mmdet_droploss  # noqa: F401

GROUPS = 'rrcff'  # 5 classes
C = len(GROUPS)


class EQLv2Reference:
    """EQLv2 written from the paper and the formulas of the authors' code: numpy, float64.

    C + 1 sigmoid channels (the last one objectness, target 1 on background proposals),
    w = y q + (1 - y) r with r = 1 / (1 + exp(-gamma (P / (M + 1e-10) - mu))), q = 1 + alpha (1 - r)
    per class, 1 for objectness and everywhere before the first step; P and M accumulate
    |p - y| * w * label_weight over positives and negatives of each class.
    """

    def __init__(self, num_classes, gamma=12.0, mu=0.8, alpha=4.0):
        self.c, self.gamma, self.mu, self.alpha = num_classes, gamma, mu, alpha
        self.pos = np.zeros(num_classes)
        self.neg = np.zeros(num_classes)
        self.started = False

    def class_weights(self):
        if not self.started:
            return np.ones(self.c + 1), np.ones(self.c + 1)
        r = np.empty(self.c + 1)
        for j in range(self.c):
            ratio = self.pos[j] / (self.neg[j] + 1e-10)
            r[j] = 1 / (1 + np.exp(-self.gamma * (ratio - self.mu)))
        r[self.c] = 1.0
        return 1 + self.alpha * (1 - r), r

    def _terms(self, x, labels, label_weights):
        x = np.asarray(x, dtype=np.float64)
        n = len(labels)
        y = np.zeros((n, self.c + 1))
        y[np.arange(n), labels] = 1
        q, r = self.class_weights()
        w = y * q + (1 - y) * r
        p = 1 / (1 + np.exp(-x))
        lw = np.ones(n) if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        return y, w, p, lw[:, None]

    def loss_and_grad(self, x, labels, label_weights=None, avg_factor=None, reduction='mean'):
        y, w, p, lw = self._terms(x, labels, label_weights)
        terms = w * lw * -(y * np.log(p) + (1 - y) * np.log(1 - p))
        norm = avg_factor if avg_factor is not None else len(labels)
        norm = norm if reduction == 'mean' else 1.0
        if reduction == 'none':
            return terms, None
        return terms.sum() / norm, w * lw * (p - y) / norm

    def gradient_sums(self, x, labels, label_weights=None):
        y, w, p, lw = self._terms(x, labels, label_weights)
        g = np.abs(p - y) * w * lw
        return (g * y).sum(0)[:self.c], (g * (1 - y)).sum(0)[:self.c]

    def step(self, x, labels, label_weights=None, avg_factor=None):
        """One call's value and gradient sums with the current weights; nothing updated."""
        x, labels = np.asarray(x), np.asarray(labels)
        value, _ = self.loss_and_grad(x, labels, label_weights, avg_factor)
        return value, self.gradient_sums(x, labels, label_weights)

    def update(self, *sums):
        for pos, neg in sums:  # one (pos, neg) per process
            self.pos += pos
            self.neg += neg
        self.started = True


def batch(seed, n=24):
    """Logits and labels where class 0 is common and class 4 never appears; half background."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, C + 1, generator=g) * 2
    fg = torch.tensor([0, 0, 0, 0, 1, 2, 2, 3] * 2)[torch.randperm(16, generator=g)][:n // 2]
    labels = torch.cat([fg, torch.full((n - fg.numel(),), C)])
    return x, labels


@pytest.fixture
def freq(frequency_file):
    return frequency_file(GROUPS)


def build(freq, **kwargs):
    return MODELS.build(dict(type='EQLv2', num_classes=C, categories=freq, **kwargs))


def run_step(loss, ref, x, labels, **kwargs):
    """One step of the module and of the reference: compare value, gradient, statistics."""
    x = x.clone().requires_grad_()
    value = loss(x, labels, **kwargs)
    value.backward()
    expected, grad = ref.loss_and_grad(x.detach().numpy(), labels.numpy(),
                                       kwargs.get('label_weights'), kwargs.get('avg_factor'))
    ref.update(ref.gradient_sums(x.detach().numpy(), labels.numpy(), kwargs.get('label_weights')))
    np.testing.assert_allclose(value.item(), expected, rtol=1e-5)
    np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(loss.pos_grad.numpy(), ref.pos, rtol=1e-5)
    np.testing.assert_allclose(loss.neg_grad.numpy(), ref.neg, rtol=1e-5)


def test_consecutive_steps_match_the_reference(freq):
    loss, ref = build(freq), EQLv2Reference(C)
    for step in range(5):
        run_step(loss, ref, *batch(step))
    assert int(loss.num_updates) == 5
    q, r = ref.class_weights()
    # the history matters: the unseen class 4 gets (almost) no negative weight and q ~ 1 + alpha
    assert r[4] < 1e-3 and q[4] > 4.99
    assert r[C] == 1 and q[C] == 1
    pos, neg = loss.class_weights()
    np.testing.assert_allclose(pos.numpy(), q, rtol=1e-5)
    np.testing.assert_allclose(neg.numpy(), r, rtol=1e-5, atol=1e-9)


def test_first_step_has_unit_weights_and_hyperparameters_apply(freq):
    x, labels = batch(0)
    loss = build(freq, gamma=6.0, mu=0.5, alpha=2.0)
    assert torch.equal(loss.weights(x, labels), torch.ones(len(labels), C + 1))
    ref = EQLv2Reference(C, gamma=6.0, mu=0.5, alpha=2.0)
    for step in range(3):
        run_step(loss, ref, *batch(step + 10))


def test_label_weights_avg_factor_and_reductions(freq):
    loss, ref = build(freq), EQLv2Reference(C)
    run_step(loss, ref, *batch(1))  # non-trivial weights from here on
    x, labels = batch(2)
    label_weights = torch.ones(len(labels))
    label_weights[::3] = 0
    label_weights[1] = 0.5
    run_step(loss, ref, x, labels, label_weights=label_weights, avg_factor=17.0)
    for reduction in ('sum', 'none'):
        value = loss(x, labels, label_weights, reduction_override=reduction)
        expected, _ = ref.loss_and_grad(x.numpy(), labels.numpy(), label_weights.numpy(),
                                        reduction=reduction)
        ref.update(ref.gradient_sums(x.numpy(), labels.numpy(), label_weights.numpy()))
        np.testing.assert_allclose(value.detach().numpy(), expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loss.pos_grad.numpy(), ref.pos, rtol=1e-5)
    np.testing.assert_allclose(loss.neg_grad.numpy(), ref.neg, rtol=1e-5)


def test_eval_mode_leaves_the_statistics_alone(freq):
    loss = build(freq)
    loss(*batch(0))
    state = {k: v.clone() for k, v in loss.state_dict().items()}
    loss.eval()
    loss(*batch(1))
    for key, value in loss.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_heads_hooks(freq):
    loss = build(freq)
    assert loss.get_cls_channels(C) == C + 1
    x, labels = batch(3)
    scores = loss.get_activation(x)
    p = torch.sigmoid(x)
    expected = torch.cat([p[:, :C] * (1 - p[:, C:]), p[:, C:]], dim=1)
    torch.testing.assert_close(scores, expected)
    acc = loss.get_accuracy(x, labels)
    predicted = expected.argmax(1)
    assert acc['acc'].item() == pytest.approx((predicted == labels).float().mean().item() * 100)
    fg = labels < C
    top = x[:, :C].argmax(1)
    assert acc['acc_fg'].item() == pytest.approx(
        (top[fg] == labels[fg]).float().mean().item() * 100)
    with pytest.raises(ValueError, match=r'num_classes \+ 1 = 6 outputs'):
        loss(torch.randn(4, C), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match='bbox head has num_classes=7'):
        loss.get_cls_channels(7)
    with pytest.raises(ValueError, match='gamma must be a number'):
        build(freq, gamma=-1)


def test_gradient_stats_hook_leaves_the_objectness_head_out(freq):
    from mmdet_droploss.hooks.gradient_stats import _uses_c_sigmoid_logits
    assert not _uses_c_sigmoid_logits(build(freq))
    assert _uses_c_sigmoid_logits(MODELS.build(dict(type='EQL', num_classes=C, categories=freq)))


def test_statistics_survive_a_checkpoint_save_and_resume(freq, tmp_path):
    check_resume(functools.partial(build, freq), batch, run_step, EQLv2Reference(C), tmp_path)


def test_two_processes_sum_their_statistics(freq, tmp_path):
    check_two_processes(functools.partial(build, freq), batch, EQLv2Reference(C), tmp_path)


def test_refused_outside_roi_heads(freq):
    """EQLv2 needs BBoxHead's hooks (C + 1 outputs, its own scores): a dense head refuses it
    when the model is built."""
    from mmdet.models.dense_heads import RetinaHead
    with pytest.raises(ValueError, match='EQLv2 works in roi heads only'):
        RetinaHead(num_classes=C, in_channels=8, feat_channels=8, stacked_convs=1,
                   loss_cls=dict(type='EQLv2', num_classes=C, categories=freq, use_sigmoid=True))
