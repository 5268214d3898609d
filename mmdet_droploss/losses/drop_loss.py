"""DropLoss (paper, eq. (5)-(7)) and its fixed drop-ratio baseline (paper, Fig. 3)."""
from typing import Optional

import torch
from mmdet.registry import MODELS
from mmengine.dist import all_reduce
from torch import Tensor

from .tail_weighted_loss import TailWeightedSigmoidLoss


def drop_keep_probability(labels: Tensor,
                          tail_mask: Tensor,
                          label_weights: Optional[Tensor] = None,
                          drop_frequent: bool = False,
                          sync_counts: bool = False) -> Tensor:
    """Per-class probability ``mu_j`` that a background proposal keeps its loss term (eq. (6)-(7)).

    The ratios are counted over the foreground samples of this call, not ground-truth
    instances: sampled RoIs on RoI heads, anchors or points on dense heads (one call per FPN
    level on RetinaNet and ATSS, all levels on FCOS), matched queries on DETR-style heads (one
    call per decoder layer); samples with a zero label weight (ignored anchors) do not count:
    ``r = n_tail / n_fg`` for tail classes. Frequent classes keep weight 1, as in the authors'
    released code (the default), or, with ``drop_frequent=True``, are kept with probability
    ``n_frequent / n_fg`` as in the paper's eq. (7). Without foreground proposals nothing is
    dropped (the released code divides by zero there and ends up keeping every weight).

    Args:
        labels: (N,) labels in ``[0, C]``.
        tail_mask: (C,) bool, ``T_j``.
        label_weights: optional (N,) proposal weights.
        drop_frequent: follow the paper's eq. (7) for frequent classes.
        sync_counts: sum the counts over all processes (an all-reduce, no host sync) so that
            every GPU draws with the global batch's ratio instead of its own 2 images'.

    Returns:
        (C,) float tensor of keep probabilities.
    """
    num_classes = tail_mask.numel()
    is_fg = labels < num_classes
    if label_weights is not None:
        is_fg = is_fg & (label_weights > 0)
    is_tail_fg = is_fg & tail_mask[labels.clamp(max=num_classes - 1)]
    counts = torch.stack([is_fg.sum(), is_tail_fg.sum()]).float()
    if sync_counts:
        all_reduce(counts)  # a no-op outside distributed runs
    num_fg, num_tail = counts.unbind()
    has_fg = num_fg > 0
    num_fg = num_fg.clamp(min=1)
    ones = torch.ones_like(num_fg)
    tail_keep = torch.where(has_fg, num_tail / num_fg, ones)
    frequent_keep = torch.where(has_fg, (num_fg - num_tail) / num_fg, ones) if drop_frequent else ones
    return torch.where(tail_mask, tail_keep, frequent_keep)


def fixed_keep_probability(tail_mask: Tensor, drop_ratio: float) -> Tensor:
    """Keep probability of the fixed drop-ratio baseline: ``1 - drop_ratio`` for tail classes,
    1 for the others, whatever the batch."""
    keep = torch.full(tail_mask.shape, 1.0 - drop_ratio, device=tail_mask.device)
    return torch.where(tail_mask, keep, torch.ones_like(keep))


def drop_background_weights(keep_probability: Tensor, num_proposals: int,
                            uniform: Optional[Tensor] = None) -> Tensor:
    """Bernoulli weights ``w_ij ~ Bernoulli(mu_j)`` for (N, C) background entries (eq. (5)).

    ``w_ij = 1`` iff ``U_ij <= mu_j`` for ``U_ij`` uniform on (0, 1], so that ``mu_j = 0``
    drops every entry and ``mu_j = 1`` keeps every one. ``uniform`` may be passed to replay a
    draw; by default it is drawn from torch's global generator (seeded by mmengine's
    ``randomness`` setting), independently for every entry at every call.
    """
    if uniform is None:
        shape = (num_proposals, keep_probability.numel())
        uniform = 1 - torch.rand(shape, device=keep_probability.device)
    return uniform <= keep_probability.unsqueeze(0)


@MODELS.register_module()
class DropLoss(TailWeightedSigmoidLoss):
    """DropLoss: randomly drops the discouraging gradients that background proposals send to
    tail classes, at the rate of tail-class foreground in the batch (paper, eq. (5)-(7)).

    Foreground rows are weighted as in :class:`EQL`. On a background row, tail class j keeps its
    BCE term with probability ``r = n_tail / n_fg`` counted over this call's foreground proposals
    (:func:`drop_keep_probability`), and frequent classes keep weight 1 as in the released code.

    Args:
        drop_ratio: ``None`` for DropLoss; a number in [0, 1] gives the paper's fixed drop-ratio
            baseline instead (tail classes on background rows kept with probability
            ``1 - drop_ratio``, whatever the batch).
        drop_frequent: ``False`` (default) follows the released code: frequent classes are never
            dropped. ``True`` follows the paper's eq. (7): frequent class j is kept with
            probability ``n_frequent / n_fg``.
        sync_counts: all-reduce the foreground counts over processes before computing the ratio
            (the released code counts per GPU).
        **kwargs: see :class:`TailWeightedSigmoidLoss`.

    Example::

        loss_cls=dict(type='DropLoss', num_classes=1230, categories='lvis_v0.5')
    """

    def __init__(self,
                 num_classes: int,
                 drop_ratio: Optional[float] = None,
                 drop_frequent: bool = False,
                 sync_counts: bool = False,
                 **kwargs) -> None:
        if drop_ratio is not None:
            if isinstance(drop_ratio, bool) or not isinstance(drop_ratio, (int, float)) \
                    or not 0 <= drop_ratio <= 1:
                raise ValueError(f'DropLoss: drop_ratio must be None (DropLoss) or a number in '
                                 f'[0, 1] (fixed drop-ratio baseline), got {drop_ratio!r}.')
            if drop_frequent:
                raise ValueError('DropLoss: drop_frequent=True applies to the batch-adaptive '
                                 'DropLoss; the fixed drop-ratio baseline only drops tail classes. '
                                 'Set drop_ratio=None or drop_frequent=False.')
        super().__init__(num_classes, **kwargs)
        self.drop_ratio = None if drop_ratio is None else float(drop_ratio)
        self.drop_frequent = bool(drop_frequent)
        self.sync_counts = bool(sync_counts)

    def keep_probability(self, labels: Tensor, label_weights: Optional[Tensor] = None) -> Tensor:
        """The (C,) keep probabilities ``mu_j`` of this call."""
        if self.drop_ratio is not None:
            return fixed_keep_probability(self.tail_mask, self.drop_ratio)
        return drop_keep_probability(labels, self.tail_mask, label_weights,
                                     drop_frequent=self.drop_frequent, sync_counts=self.sync_counts)

    def background_weights(self, cls_score: Tensor, labels: Tensor,
                           label_weights: Optional[Tensor]) -> Tensor:
        keep = self.keep_probability(labels, label_weights)
        return drop_background_weights(keep, cls_score.size(0))

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, drop_ratio={self.drop_ratio}, '
                f'drop_frequent={self.drop_frequent}, sync_counts={self.sync_counts}')
