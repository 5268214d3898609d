"""Federated loss (Zhou, Koltun, Krähenbühl, "Probabilistic two-stage detection", 2021).

LVIS is federated: an image is exhaustively annotated only for some classes, so a class that
does not appear in a batch is not evidence of a negative everywhere. The federated loss is the
sigmoid BCE over the C logits restricted, at every loss call, to a subset S of the classes:

    L = 1/N sum_i sum_{j in S}  BCE(x_ij, y_ij),   i.e.  w_ij = [j in S]

S holds every ground-truth class of the call's proposals plus classes drawn *without
replacement* with probability proportional to ``image_count_j ** 0.5`` until S has 50 entries
(the authors' defaults; CenterNet2 and Detic code). As in that code, the background label takes
one of the 50 places when the call has background proposals, and when the batch has more than
50 classes all of them are kept and nothing is drawn.

Sampling is vectorised without a host sync: Gumbel top-k (``log w_j - log E_j`` with
``E_j ~ Exp(1)``; the k largest keys are a draw of k classes without replacement with
probabilities proportional to ``w``), the batch's classes given an infinite key so that they
come first, and a data-dependent budget applied as a rank comparison instead of a variable k.
"""
from typing import Optional

import torch
from mmdet.registry import MODELS
from torch import Tensor

from .weighted_sigmoid_loss import WeightedSigmoidLoss


def federated_classes(labels: Tensor,
                      sample_weight: Tensor,
                      num_sample_classes: int = 50,
                      label_weights: Optional[Tensor] = None,
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """The (C,) bool mask of the classes S that the federated loss trains at this call.

    Args:
        labels: (N,) labels in ``[0, C]``, ``C`` = background.
        sample_weight: (C,) non-negative sampling weights (``image_count ** 0.5``); classes of
            weight 0 are never drawn.
        num_sample_classes: size of S, the background label included when present (50).
        label_weights: optional (N,) proposal weights; proposals of weight 0 do not put their
            class into S.
        generator: random generator of the draw (default: torch's global one, seeded by
            mmengine's ``randomness`` setting).
    """
    num_classes = sample_weight.numel()
    device = sample_weight.device
    seen = labels.new_ones(labels.shape, dtype=torch.float32)
    if label_weights is not None:
        seen = (label_weights > 0).float()
    # a scatter, not torch.unique: no data-dependent shape
    count = torch.zeros(num_classes + 1, device=device).index_add_(0, labels, seen)
    present = count[:num_classes] > 0
    budget = num_sample_classes - (count[num_classes] > 0).long()

    exponential = torch.empty(num_classes, device=device).exponential_(generator=generator)
    tiny = torch.finfo(torch.float32).tiny
    keys = sample_weight.float().log() - exponential.clamp(min=tiny).log()
    keys = torch.where(present, torch.full_like(keys, float('inf')), keys)
    top_keys, order = keys.topk(min(num_sample_classes, num_classes))
    rank = torch.arange(order.numel(), device=device)
    take = (rank < budget) & (top_keys > float('-inf'))
    drawn = torch.zeros(num_classes, dtype=torch.bool, device=device).scatter(0, order, take)
    return drawn | present


@MODELS.register_module()
class FederatedLoss(WeightedSigmoidLoss):
    """Federated loss: sigmoid BCE over the C logits on the batch's classes and a sample of
    other classes (Zhou et al. 2021); see the module docstring.

    Args:
        num_classes: number of foreground classes C; the classifier gets C outputs.
        num_sample_classes: size of the class subset per loss call (authors: 50).
        freq_weight: classes are drawn with probability proportional to
            ``image_count ** freq_weight`` (authors: 0.5), ``image_count`` from ``categories``.
        **kwargs: ``categories``, ``reduction``, ``loss_weight`` (see
            :class:`WeightedSigmoidLoss`).

    Example::

        loss_cls=dict(type='FederatedLoss', num_classes=1203, categories='lvis_v1')
    """

    def __init__(self, num_classes: int, num_sample_classes: int = 50,
                 freq_weight: float = 0.5, **kwargs) -> None:
        if isinstance(num_sample_classes, bool) or not isinstance(num_sample_classes, int) \
                or num_sample_classes < 1:
            raise ValueError('FederatedLoss: num_sample_classes must be a positive integer (the '
                             f'authors use 50), got {num_sample_classes!r}.')
        if isinstance(freq_weight, bool) or not isinstance(freq_weight, (int, float)) \
                or freq_weight < 0:
            raise ValueError('FederatedLoss: freq_weight must be a number >= 0 (the authors use '
                             f'0.5; 0 draws uniformly), got {freq_weight!r}.')
        super().__init__(num_classes, **kwargs)
        self.num_sample_classes = num_sample_classes
        self.freq_weight = float(freq_weight)
        image_count = torch.as_tensor(self.category_info.image_count, dtype=torch.float32)
        self.register_buffer('sample_weight', image_count ** self.freq_weight, persistent=False)

    def sampled_classes(self, labels: Tensor, label_weights: Optional[Tensor] = None) -> Tensor:
        """The (C,) bool mask of the classes this call trains (drawn anew at every call)."""
        return federated_classes(labels, self.sample_weight, self.num_sample_classes,
                                 label_weights)

    @torch.no_grad()
    def weights(self, cls_score: Tensor, labels: Tensor,
                label_weights: Optional[Tensor] = None) -> Tensor:
        """(N, C) bool weights ``[j in S]``, the same for every proposal (a broadcast view)."""
        selected = self.sampled_classes(labels, label_weights)
        return selected.unsqueeze(0).expand(cls_score.size(0), -1)

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, num_sample_classes={self.num_sample_classes}, '
                f'freq_weight={self.freq_weight}')
