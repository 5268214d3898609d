"""Checks of a loss that keeps gradient statistics (EQLv2, EFL: ``pos_grad``, ``neg_grad``,
``num_updates``, losses/gradient_statistics.py) against the test's own reference: the statistics
survive a checkpoint save / resume, and two processes sum theirs.

The test module supplies, as module-level functions (the two-process check pickles them):

* ``build_loss()``: a new loss module (``functools.partial`` of the test's builder);
* ``batch(seed)``: one call's inputs, ``(x, labels)`` or ``(x, labels, kwargs)``;
* ``run_step(loss, reference, *batch(seed))``: one training-mode call of the loss and of the
  reference, asserting value, gradient and statistics;

and a reference with ``pos``, ``neg`` (the accumulated sums), ``step(x, labels, **kwargs) ->
(loss value, sums)`` (the call's value and gradient sums, nothing updated) and
``update(*sums)`` (add the sums of one or more processes' calls).
"""
import copy
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from conftest import free_port


class Head(nn.Module):
    """Stands in for a head holding the loss: a classifier beside it, and the loss's buffers
    land in the checkpoint."""

    def __init__(self, loss_cls: nn.Module):
        super().__init__()
        self.fc_cls = nn.Linear(3, loss_cls.get_cls_channels(loss_cls.num_classes))
        self.loss_cls = loss_cls


def _call_args(inputs):
    """``(x, labels, kwargs)`` of what ``batch(seed)`` returns."""
    x, labels, *rest = inputs
    return x, labels, (rest[0] if rest else {})


def _assert_same_statistics(loss, other) -> None:
    for name in ('pos_grad', 'neg_grad', 'num_updates'):
        assert torch.equal(getattr(loss, name), getattr(other, name)), name


def check_resume(build_loss, batch, run_step, reference, tmp_path, saved_at=3,
                 steps=5) -> None:
    """Steps ``0 .. saved_at - 1`` of a head's loss, a checkpoint (mmengine's save and strict
    load), then steps ``saved_at .. steps - 1`` of the resumed loss and of the uninterrupted
    one: the resumed statistics equal the saved ones to the bit, and both losses go on as the
    reference (``run_step`` asserts it) and as each other."""
    from mmengine.runner.checkpoint import load_checkpoint, save_checkpoint
    head = Head(build_loss())
    for step in range(saved_at):
        run_step(head.loss_cls, reference, *batch(step))
    path = str(tmp_path / f'iter_{saved_at}.pth')
    save_checkpoint(dict(state_dict=head.state_dict(), meta=dict(iter=saved_at)), path)
    resumed = Head(build_loss())
    assert int(resumed.loss_cls.num_updates) == 0
    load_checkpoint(resumed, path, map_location='cpu', strict=True)
    assert int(resumed.loss_cls.num_updates) == saved_at
    _assert_same_statistics(resumed.loss_cls, head.loss_cls)
    uninterrupted = copy.deepcopy(reference)
    for step in range(saved_at, steps):
        run_step(resumed.loss_cls, reference, *batch(step))
        run_step(head.loss_cls, uninterrupted, *batch(step))
    _assert_same_statistics(resumed.loss_cls, head.loss_cls)


def _seed(rank: int, step: int) -> int:
    return 100 * rank + step


def _worker(rank: int, port: int, build_loss, batch, steps: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=2)
    try:
        loss = build_loss()
        results = []
        for step in range(steps):
            x, labels, kwargs = _call_args(batch(_seed(rank, step)))
            results.append(dict(loss=loss(x, labels, **kwargs).item(),
                                pos=loss.pos_grad.clone(), neg=loss.neg_grad.clone()))
        torch.save(results, os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def check_two_processes(build_loss, batch, reference, tmp_path, steps=3) -> None:
    """Two gloo processes call the loss on batches of their own (seed ``100 * rank + step``):
    each call's value is the reference's with the statistics so far, and after each step both
    processes hold the statistics of both processes' gradients."""
    mp.spawn(_worker, args=(free_port(), build_loss, batch, steps, str(tmp_path)), nprocs=2,
             join=True)
    results = [torch.load(tmp_path / f'rank{rank}.pt') for rank in range(2)]
    for step in range(steps):
        sums = []
        for rank in range(2):
            x, labels, kwargs = _call_args(batch(_seed(rank, step)))
            expected, step_sums = reference.step(x, labels, **kwargs)
            assert results[rank][step]['loss'] == pytest.approx(float(expected), rel=1e-5)
            sums.append(step_sums)
        reference.update(*sums)  # both processes' gradients, before the next step's weights
        for rank in range(2):
            for key, expected in (('pos', reference.pos), ('neg', reference.neg)):
                torch.testing.assert_close(results[rank][step][key].double(),
                                           torch.as_tensor(expected, dtype=torch.float64),
                                           rtol=1e-5, atol=1e-8)
