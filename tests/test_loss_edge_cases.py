"""Edge cases the paper leaves undefined, low-precision logits, and the no-host-sync rule."""
import pytest
import torch
from mmdet.registry import MODELS
from torch.utils._python_dispatch import TorchDispatchMode

import mmdet_droploss  # noqa: F401
from mmdet_droploss.losses import drop_keep_probability

TYPES = [dict(type='EQL'), dict(type='BEQL', log_base=4.0), dict(type='DropLoss'),
         dict(type='DropLoss', drop_frequent=True), dict(type='DropLoss', drop_ratio=0.5)]
IDS = ['EQL', 'BEQL', 'DropLoss', 'DropLoss-eq7', 'DropLoss-fixed']


def build(cfg, path, num_classes=4):
    return MODELS.build(dict(cfg, num_classes=num_classes, categories=path))


@pytest.mark.parametrize('cfg', TYPES, ids=IDS)
def test_no_proposals(frequency_file, cfg):
    module = build(cfg, frequency_file('rcff'))
    x = torch.zeros(0, 4, requires_grad=True)
    loss = module(x, torch.zeros(0, dtype=torch.long), torch.zeros(0), avg_factor=1.0)
    loss.backward()
    assert loss.item() == 0.0 and x.grad.shape == (0, 4)
    assert module(x, torch.zeros(0, dtype=torch.long)).item() == 0.0


@pytest.mark.parametrize('cfg', TYPES[2:4], ids=IDS[2:4])
def test_no_foreground_keeps_every_weight(frequency_file, cfg):
    module = build(cfg, frequency_file('rcff'))
    module.keep_weights = True
    labels = torch.full((50,), 4)
    loss = module(torch.randn(50, 4), labels)
    assert torch.isfinite(loss)
    assert module.last_weights.eq(1).all()


def test_only_frequent_or_only_tail_foreground(frequency_file):
    module = build(dict(type='DropLoss'), frequency_file('rcff'))
    module.keep_weights = True
    only_frequent = torch.tensor([2, 3, 3] + [4] * 100)
    module(torch.randn(103, 4), only_frequent)
    assert module.last_weights[3:, :2].eq(0).all(), 'r = 0: every tail entry of background rows is dropped'
    assert module.last_weights[3:, 2:].eq(1).all()
    only_tail = torch.tensor([0, 1, 1] + [4] * 100)
    module(torch.randn(103, 4), only_tail)
    assert module.last_weights[3:].eq(1).all(), 'r = 1: nothing is dropped'


def test_keep_probability_on_the_edges():
    tail = torch.tensor([True, False])
    torch.testing.assert_close(drop_keep_probability(torch.tensor([2, 2]), tail, drop_frequent=True),
                               torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(drop_keep_probability(torch.tensor([1, 2]), tail, drop_frequent=True),
                               torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(drop_keep_probability(torch.tensor([0, 0, 1, 2]), tail, drop_frequent=True),
                               torch.tensor([2 / 3, 1 / 3]))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('cfg', TYPES[:3], ids=IDS[:3])
def test_low_precision_logits(frequency_file, cfg, dtype):
    module = build(cfg, frequency_file('rcff'))
    labels = torch.tensor([0, 2, 4, 4, 1, 4])
    x = (torch.randn(6, 4) * 3).to(dtype).requires_grad_(True)
    torch.manual_seed(0)
    loss = module(x, labels, avg_factor=6.0)
    loss.backward()
    torch.manual_seed(0)
    expected = module(x.detach().float(), labels, avg_factor=6.0)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert x.grad.dtype == dtype and torch.isfinite(x.grad.float()).all()


@pytest.mark.parametrize('cfg', TYPES, ids=IDS)
def test_all_zero_label_weights(frequency_file, cfg):
    module = build(cfg, frequency_file('rcff'))
    x = torch.randn(8, 4, requires_grad=True)
    labels = torch.tensor([0, 1, 2, 3, 4, 4, 4, 4])
    # mmdet's BBoxHead passes avg_factor = max(#(label_weights > 0), 1).
    loss = module(x, labels, torch.zeros(8), avg_factor=1.0)
    loss.backward()
    assert loss.item() == 0.0 and x.grad.eq(0).all()


def test_extreme_logits_stay_finite(frequency_file):
    module = build(dict(type='BEQL', log_base=4.0), frequency_file('rcff'))
    x = torch.tensor([[-100., 100., -100., 100.], [100., -100., 100., -100.]], requires_grad=True)
    loss = module(x, torch.tensor([4, 0]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()


class OpRecorder(TorchDispatchMode):
    """Records every aten op that runs, to find host syncs."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(str(func.overloadpacket.__name__))
        return func(*args, **(kwargs or {}))


# Ops that copy a device value to the host (item/int/bool of a tensor) or have a
# data-dependent output shape (which forces a sync on CUDA).
HOST_SYNC_OPS = {'_local_scalar_dense', 'nonzero', 'masked_select', 'unique', '_unique2',
                 'item', 'equal', 'is_nonzero', 'masked_scatter', 'repeat_interleave'}


@pytest.mark.parametrize('cfg', TYPES + [dict(type='DropLoss', sync_counts=True)], ids=IDS + ['DropLoss-sync'])
def test_training_step_has_no_host_sync(frequency_file, cfg):
    module = build(cfg, frequency_file('rcff'))
    labels = torch.tensor([0, 2, 4, 4, 1, 4, 3, 4])
    x = torch.randn(8, 4, requires_grad=True)
    module(x, labels, torch.ones(8), avg_factor=8.0)  # first call validates the labels once
    recorder = OpRecorder()
    with recorder:
        loss = module(x, labels, torch.ones(8), avg_factor=8.0)
        loss.backward()
        module.get_accuracy(x.detach(), labels)
    assert recorder.ops, 'the recorder saw nothing'
    assert not HOST_SYNC_OPS & set(recorder.ops), sorted(HOST_SYNC_OPS & set(recorder.ops))


def test_op_recorder_sees_host_syncs():
    """The no-sync test above can fail: the recorder does see .item() and nonzero()."""
    recorder = OpRecorder()
    with recorder:
        t = torch.tensor([0., 1.])
        t.sum().item()
        t.nonzero()
    assert {'_local_scalar_dense', 'nonzero'} <= set(recorder.ops)
