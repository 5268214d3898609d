"""EFL against an independent float64 reference (autograd over the authors' formulas), over
consecutive steps (its factors depend on the gradients of all earlier steps), with given
statistics, every reduction and eval mode, and with bad input. Its use in training (checkpoint
resume, 2 processes, mmdet's dense heads) is tested in tests/test_efl_training.py."""
import pytest
import torch

from mmdet.registry import MODELS

import mmdet_droploss  # noqa: F401
from mmdet_droploss.losses import efl_focusing_factors

GROUPS = 'rrcff'  # 5 classes
C = len(GROUPS)


class EFLReference:
    """The authors' ``EqualizedFocalLoss`` (forward and ``collect_grad``) transcribed in float64
    torch: ``pos_neg = clamp(P / (M + 1e-10), 0, 1)`` (ones before the first update), focusing
    factor ``ff = gamma_b + s (1 - pos_neg)``, weighting factor ``ff / gamma_b``, loss
    ``alpha_t * -log(p_t) * (1 - p_t)^ff * ff / gamma_b``; ``P``, ``M`` add up the magnitude of
    the logits' gradient (here: autograd's) over positives and negatives. mmdet's conventions:
    background is label C (the authors': 0), label weights, ``avg_factor``, ``loss_weight``."""

    def __init__(self, gamma_b=2.0, scale_factor=8.0, alpha=0.25, loss_weight=1.0):
        self.gamma_b, self.s, self.alpha = gamma_b, scale_factor, alpha
        self.loss_weight = loss_weight
        self.pos = torch.zeros(C, dtype=torch.float64)
        self.neg = torch.zeros(C, dtype=torch.float64)
        self.started = False

    def loss_and_grad(self, x, labels, label_weights=None, avg_factor=None, reduction='mean'):
        x = x.detach().double().requires_grad_()
        n = len(labels)
        target = torch.zeros(n, C + 1, dtype=torch.float64)
        target[torch.arange(n), labels] = 1
        target = target[:, :C]
        pos_neg = (self.pos / (self.neg + 1e-10)).clamp(0, 1) if self.started \
            else torch.ones(C, dtype=torch.float64)
        ff = (self.gamma_b + self.s * (1 - pos_neg)).view(1, -1).expand(n, C)
        wf = ff / self.gamma_b
        pred = torch.sigmoid(x)
        pred_t = pred * target + (1 - pred) * (1 - target)
        cls_loss = -torch.log(pred_t) * torch.pow(1 - pred_t, ff) * wf
        cls_loss = (self.alpha * target + (1 - self.alpha) * (1 - target)) * cls_loss
        lw = torch.ones(n) if label_weights is None else label_weights
        cls_loss = self.loss_weight * cls_loss * lw.double().unsqueeze(1)
        total = cls_loss.sum()
        if reduction == 'mean':
            total = total / (avg_factor if avg_factor is not None else n)
        total.backward()
        grad = x.grad.abs()
        #: the call's positive and negative gradient sums (what ``update`` adds)
        self.last_sums = (grad * target).sum(0), (grad * (1 - target)).sum(0)
        return (cls_loss if reduction == 'none' else total).detach(), x.grad

    def step(self, x, labels, **kwargs):
        """One call's value and gradient sums with the current factors; nothing updated."""
        value, _ = self.loss_and_grad(x, labels, **kwargs)
        return value.item(), self.last_sums

    def update(self, *sums):
        """Add gradient sums: of one call, or of several processes' calls of one step."""
        for pos, neg in sums:
            self.pos += pos
            self.neg += neg
        self.started = True


def batch(seed, n=40):
    """Logits and labels where class 0 is common and class 4 never appears; half background;
    label weights with ignored rows; avg_factor = the number of positives (as dense heads)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, C, generator=g) * 2
    fg = torch.tensor([0, 0, 0, 0, 1, 2, 2, 3] * 3)[torch.randperm(24, generator=g)][:n // 2]
    labels = torch.cat([fg, torch.full((n - fg.numel(),), C)])
    label_weights = (torch.rand(n, generator=g) > 0.15).float()
    return x, labels, dict(label_weights=label_weights, avg_factor=float(fg.numel()))


@pytest.fixture
def freq(frequency_file):
    return frequency_file(GROUPS)


def build(freq, **kwargs):
    return MODELS.build(dict(type='EFL', num_classes=C, categories=freq, **kwargs))


def run_step(loss, ref, x, labels, kwargs):
    x = x.clone().requires_grad_()
    value = loss(x, labels, **kwargs)
    value.backward()
    expected, grad = ref.loss_and_grad(x, labels, **kwargs)
    ref.update(ref.last_sums)
    torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(x.grad.double(), grad, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(loss.pos_grad.double(), ref.pos, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(loss.neg_grad.double(), ref.neg, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize('options', [
    {}, dict(gamma=1.5, scale_factor=4.0, alpha=0.5, loss_weight=2.0)])
def test_consecutive_steps_match_the_reference(freq, options):
    loss = build(freq, **options)
    ref = EFLReference(options.get('gamma', 2.0), options.get('scale_factor', 8.0),
                       options.get('alpha', 0.25), options.get('loss_weight', 1.0))
    assert (loss.gamma, loss.scale_factor, loss.alpha) == (ref.gamma_b, ref.s, ref.alpha)
    for step in range(5):
        run_step(loss, ref, *batch(step))
    assert int(loss.num_updates) == 5
    # class 4 never had a positive: the largest focusing and weighting factors
    gamma, weight = loss.focusing_factors()
    assert gamma[4] == ref.gamma_b + ref.s and weight[4] == gamma[4] / ref.gamma_b
    assert (gamma[:4] < gamma[4]).all() and (gamma >= ref.gamma_b).all()


def test_the_first_step_is_mmdets_focal_loss(freq):
    x, labels, kwargs = batch(0)
    focal = MODELS.build(dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25))
    xs = [x.clone().requires_grad_() for _ in range(2)]
    expected = focal(xs[0], labels, kwargs['label_weights'][:, None].expand(-1, C),
                     avg_factor=kwargs['avg_factor'])
    got = build(freq)(xs[1], labels, **kwargs)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-8)
    expected.backward()
    got.backward()
    torch.testing.assert_close(xs[1].grad, xs[0].grad, rtol=1e-4, atol=1e-8)


def test_focusing_and_weighting_factors_by_hand():
    pos, neg = torch.tensor([0., 1., 3., 2.]), torch.tensor([1., 4., 1., 0.])
    # g = 0, 1/4, 3 (clamped to 1), 2 / 1e-10 (clamped to 1)
    gamma, weight = efl_focusing_factors(pos, neg, torch.tensor(1), 2.0, 8.0)
    assert gamma.tolist() == [10., 8., 2., 2.] and weight.tolist() == [5., 4., 1., 1.]
    gamma, weight = efl_focusing_factors(pos, neg, torch.tensor(0), 2.0, 8.0)
    assert gamma.tolist() == [2.] * 4 and weight.tolist() == [1.] * 4


def test_given_statistics_reductions_and_eval_mode(freq):
    loss, ref = build(freq), EFLReference()
    ref.pos, ref.neg = torch.tensor([.5, 1., 0., 2., 3.], dtype=torch.float64), \
        torch.tensor([4., 1., 2., 1e3, 0.], dtype=torch.float64)
    ref.started = True
    loss.load_state_dict(dict(pos_grad=ref.pos.float(), neg_grad=ref.neg.float(),
                              num_updates=torch.tensor(7)))
    x, labels, kwargs = batch(3)
    for reduction in ('sum', 'none'):
        value = loss(x, labels, kwargs['label_weights'], reduction_override=reduction)
        expected, _ = ref.loss_and_grad(x, labels, kwargs['label_weights'], reduction=reduction)
        ref.update(ref.last_sums)  # 'none': the statistics of the sum of the terms
        torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(loss.pos_grad.double(), ref.pos, rtol=1e-5, atol=1e-8)
        torch.testing.assert_close(loss.neg_grad.double(), ref.neg, rtol=1e-5, atol=1e-8)
    run_step(loss, ref, x, labels, kwargs)
    state = {k: v.clone() for k, v in loss.state_dict().items()}
    loss.eval()
    expected, _ = ref.loss_and_grad(x, labels, **kwargs)
    torch.testing.assert_close(loss(x, labels, **kwargs).double(), expected, rtol=1e-5, atol=1e-8)
    assert all(torch.equal(v, state[k]) for k, v in loss.state_dict().items())
    assert int(loss.num_updates) == 10


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize('kwargs, error, message', [
    (dict(scale_factor=-1), ValueError, 'scale_factor must be a finite number >= 0'),
    (dict(scale_factor='8'), ValueError, 'scale_factor must be a finite number >= 0'),
    (dict(base_loss='bce'), ValueError, "EFL is a focal loss: base_loss must be 'focal'"),
    (dict(gamma=0), ValueError, r'gamma \(the base focusing factor gamma_b\) must be > 0'),
    (dict(gamma=-2), ValueError, 'gamma must be a number >= 0'),
    (dict(alpha=1.5), ValueError, r'alpha must be a number in \[0, 1\]'),
    (dict(reduction='avg'), ValueError, 'reduction must be one of'),
    (dict(beta=2.0), TypeError, r"EFL got unexpected argument\(s\) \['beta'\]"),
    (dict(use_sigmoid=False), ValueError, "EFL is a sigmoid loss.*_delete_=True, type='EFL'"),
])
def test_bad_arguments(freq, kwargs, error, message):
    with pytest.raises(error, match=message):
        build(freq, **kwargs)


def test_bad_inputs(freq):
    with pytest.raises(ValueError, match=r'num_classes=4 but categories=.* has 5 classes'):
        MODELS.build(dict(type='EFL', num_classes=4, categories=freq))
    loss = build(freq)
    with pytest.raises(ValueError, match=r'expects \(N, 5\) logits .* got shape \(3, 6\)'):
        loss(torch.randn(3, 6), torch.tensor([0, 1, 5]))
    with pytest.raises(ValueError, match=r'labels must be in \[0, 5\].*got values in \[0, 6\]'):
        loss(torch.randn(3, C), torch.tensor([0, 6, 5]))
    with pytest.raises(TypeError, match='integer tensor'):
        loss(torch.randn(3, C), torch.tensor([0., 1., 5.]))
    assert int(loss.num_updates) == 0  # a refused call adds nothing


@pytest.mark.parametrize('head, kwargs', [
    ('Shared2FCBBoxHead', dict(in_channels=8, fc_out_channels=16, roi_feat_size=7)),
    ('DeformableDETRHead', dict(embed_dims=16)),
])
def test_refused_outside_dense_heads(freq, head, kwargs):
    with pytest.raises(ValueError, match=r'EFL works in dense heads only.*one-stage dense '
                                         r'detectors.*On a RoI head use EQLv2'):
        MODELS.build(dict(type=head, num_classes=C, **kwargs, loss_cls=dict(
            type='EFL', num_classes=C, categories=freq, use_sigmoid=True)))
