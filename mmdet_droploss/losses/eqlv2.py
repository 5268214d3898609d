"""EQLv2: Equalization Loss v2 (Tan et al., "Equalization Loss v2: A New Gradient Balance
Approach for Long-tailed Object Detection", CVPR 2021).

The classifier has C + 1 sigmoid logits: one per class and a last *objectness* channel whose
target is 1 on background proposals (the authors' code keeps mmdet's background label C as a
one-hot column). The loss is a weighted sigmoid BCE, in the paper's notation (q, r, f, g):

    L = 1/N sum_i sum_j  w_ij * BCE(x_ij, y_ij),   w_ij = y_ij q_j + (1 - y_ij) r_j
    r_j = f(g_j) = 1 / (1 + exp(-gamma (g_j - mu))),   q_j = 1 + alpha (1 - r_j)

where ``g_j = P_j / M_j`` is the ratio of the positive to the negative gradient magnitude that
class j has accumulated over all previous iterations (and over all processes),

    P_j = sum_t sum_i y_ij |dL/dx_ij| * w_ij,   M_j = sum_t sum_i (1 - y_ij) |dL/dx_ij| * w_ij,

with ``|dL/dx_ij| = |p_ij - y_ij|`` the BCE gradient magnitude of each term (the paper
accumulates the gradients of the re-weighted loss, as the authors' code does). The objectness
channel always has ``r = q = 1`` and collects no statistics; before the first update every
weight is 1, as in the authors' code. At test time class j scores
``sigmoid(x_j) * (1 - sigmoid(x_bg))``.

The accumulated ``P``, ``M`` and the number of updates are persistent buffers: they are saved in
checkpoints, restored on resume, and all-reduced (summed) over processes at every step so that
every GPU weights with the statistics of the whole distributed batch (the authors' code does
the same; the buffers and the all-reduce are :class:`.GradientStatistics`, shared with EFL).
Proposals with label weight 0 add nothing to them.
"""
from typing import Optional, Tuple

import torch
from mmdet.registry import MODELS
from torch import Tensor

from .gradient_statistics import RATIO_EPS, GradientStatistics
from .objectness_loss import ObjectnessSigmoidLoss
from .weighted_bce import sigmoid_targets


def eqlv2_class_weights(pos_grad: Tensor, neg_grad: Tensor, num_updates: Tensor,
                        gamma: float = 12.0, mu: float = 0.8,
                        alpha: float = 4.0) -> Tuple[Tensor, Tensor]:
    """Per-channel positive and negative weights ``(q, r)`` of EQLv2, each of shape (C + 1,).

    ``r_j = f(g_j) = sigmoid(gamma * (P_j / M_j - mu))`` and ``q_j = 1 + alpha * (1 - r_j)`` for
    the C classes (the paper's reweighing rule); the objectness channel (last) has
    ``r = q = 1``; and every weight is 1 while ``num_updates == 0`` (nothing accumulated yet).
    No host sync.

    Args:
        pos_grad: (C,) accumulated positive gradient magnitude ``P``.
        neg_grad: (C,) accumulated negative gradient magnitude ``M``.
        num_updates: 0-d tensor, how many steps have been accumulated.
    """
    ratio = pos_grad.float() / (neg_grad.float() + RATIO_EPS)
    neg = torch.sigmoid(gamma * (ratio - mu))
    neg = torch.where(num_updates > 0, neg, torch.ones_like(neg))
    neg = torch.cat([neg, neg.new_ones(1)])
    pos = 1 + alpha * (1 - neg)
    return pos, neg


def eqlv2_gradient_sums(cls_score: Tensor, labels: Tensor, pos_weight: Tensor,
                        neg_weight: Tensor, label_weights: Optional[Tensor] = None) -> Tensor:
    """This step's weighted positive and negative gradient magnitude per class, shape (2, C).

    Row 0: ``sum_i y_ij (1 - p_ij) q_j l_i``; row 1: ``sum_i (1 - y_ij) p_ij r_j l_i``, with
    ``l_i`` the label weights, over the C class channels (the objectness channel is left out).
    Only one (C + 1)-column pass: the negative sum is the column sum of ``p`` minus its
    positive entries, gathered per row.

    Args:
        cls_score: (N, C + 1) logits, the objectness channel last.
        labels: (N,) labels in ``[0, C]``; ``C`` (background) is the objectness target.
        pos_weight, neg_weight: (C + 1,) weights of :func:`eqlv2_class_weights`.
        label_weights: optional (N,) proposal weights.
    """
    prob = cls_score.detach().float().sigmoid()
    row = (label_weights.detach().float() if label_weights is not None
           else prob.new_ones(prob.size(0)))
    prob_of_label = prob.gather(1, labels.unsqueeze(1)).squeeze(1)
    zeros = prob.new_zeros(prob.size(1))
    positive = zeros.index_add(0, labels, (1 - prob_of_label) * row)
    negative = row @ prob - zeros.index_add(0, labels, prob_of_label * row)
    # a new contiguous (2, C) tensor: collectives on a strided view would miss elements
    return torch.stack([positive[:-1] * pos_weight[:-1], negative[:-1] * neg_weight[:-1]])


@MODELS.register_module()
class EQLv2(GradientStatistics, ObjectnessSigmoidLoss):
    """Equalization Loss v2: gradient-guided re-weighting of the positive and negative terms of
    each class by its accumulated positive-to-negative gradient ratio (Tan et al., CVPR 2021).

    Needs C + 1 classifier outputs (given by mmdet's ``BBoxHead`` through
    :meth:`get_cls_channels`, with the test scores of :class:`ObjectnessSigmoidLoss`); see the
    module docstring for the formulas.

    Args:
        num_classes: number of foreground classes C; the classifier gets C + 1 outputs.
        gamma: slope of the mapping function ``f`` (paper: 12).
        mu: centre of ``f`` (paper: 0.8).
        alpha: strength of the positive up-weighting ``q = 1 + alpha (1 - r)`` (paper: 4).
        **kwargs: ``categories``, ``reduction``, ``loss_weight`` (see
            :class:`WeightedSigmoidLoss`).

    Example::

        loss_cls=dict(type='EQLv2', num_classes=1203, categories='lvis_v1')
    """

    def __init__(self, num_classes: int, gamma: float = 12.0, mu: float = 0.8,
                 alpha: float = 4.0, **kwargs) -> None:
        for name, value in (('gamma', gamma), ('mu', mu), ('alpha', alpha)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f'EQLv2: {name} must be a number >= 0, got {value!r} '
                                 '(the paper uses gamma=12, mu=0.8, alpha=4).')
        super().__init__(num_classes, **kwargs)
        self.gamma, self.mu, self.alpha = float(gamma), float(mu), float(alpha)
        # persistent: saved in checkpoints and restored on resume
        self.register_gradient_statistics(num_classes)

    def class_weights(self) -> Tuple[Tensor, Tensor]:
        """The (C + 1,) positive and negative weights ``(q, r)`` the next step uses."""
        return eqlv2_class_weights(self.pos_grad, self.neg_grad, self.num_updates,
                                   self.gamma, self.mu, self.alpha)

    @torch.no_grad()
    def weights(self, cls_score: Tensor, labels: Tensor,
                label_weights: Optional[Tensor] = None) -> Tensor:
        """(N, C + 1) weights: ``q_j`` on each proposal's target channel, ``r_j`` elsewhere."""
        pos, neg = self.class_weights()
        targets = sigmoid_targets(labels, self.num_classes + 1)
        return torch.where(targets, pos.unsqueeze(0), neg.unsqueeze(0))

    def forward(self,
                cls_score: Tensor,
                labels: Tensor,
                label_weights: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """The loss of this call with the current weights; then, in training mode, this call's
        weighted gradients are added to the statistics (summed over processes)."""
        loss = super().forward(cls_score, labels, label_weights, avg_factor, reduction_override)
        if self.training:
            self.accumulate(cls_score, labels, label_weights)
        return loss

    @torch.no_grad()
    def accumulate(self, cls_score: Tensor, labels: Tensor,
                   label_weights: Optional[Tensor] = None) -> None:
        """Add this step's weighted positive and negative gradients (all processes' sum) to
        ``pos_grad`` and ``neg_grad``. A collective call under distributed training: every
        process must make it (each does, once per loss call)."""
        pos, neg = self.class_weights()
        self.add_gradient_statistics(
            eqlv2_gradient_sums(cls_score, labels, pos, neg, label_weights))

    def extra_repr(self) -> str:
        return (f'{super().extra_repr()}, gamma={self.gamma}, mu={self.mu}, '
                f'alpha={self.alpha}')
