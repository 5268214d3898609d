"""EFL: Equalized Focal Loss (Li, Yao, Tan, Zhang, Yu, Lu, Luo, "Equalized Focal Loss for Dense
Long-Tailed Object Detection", CVPR 2022; the authors' code: ModelTC/United-Perception, formerly
ModelTC/EOD).

A sigmoid focal loss over the C logits of a dense head whose modulating factor is set per class
by how balanced the class's training has been so far. With ``p_t`` the probability of the
target (``p`` on a positive entry, ``1 - p`` on a negative) and ``alpha_t`` the focal loss's
``alpha`` / ``1 - alpha``:

    EFL(x_ij) = alpha_t * (gamma_j / gamma_b) * (1 - p_t)^gamma_j * (-log p_t)
    gamma_j   = gamma_b + s * (1 - g_j)                    (the paper's focusing factor)
    gamma_j / gamma_b                                      (the paper's weighting factor)

where ``g_j`` in [0, 1] is the ratio of the positive to the negative gradient magnitude that class
j has accumulated over all previous training steps and all processes, clipped to 1 as in the
authors' code: ``g_j = min(P_j / (M_j + 1e-10), 1)``. A balanced class (``g_j = 1``) is trained
with the plain focal loss; a rare one (``g_j`` near 0) with a larger ``gamma_j`` (its easy
negatives are down-weighted further) and a larger weight (its hard positives count more).
Before the first update ``g = 1`` (the authors initialise the ratio to ones): the first step is
the focal loss. Defaults as the paper and the authors' configs: ``gamma_b = 2``, ``s = 8``,
``alpha = 0.25``.

**Where the gradient is collected.** The authors collect the gradient of the loss with respect
to the classifier's outputs, i.e. the logits (a backward hook on the last classification layer),
and sum its magnitude over the positive and over the negative entries of each class:

    P_j += sum_i y_ij |dL/dx_ij|,    M_j += sum_i (1 - y_ij) |dL/dx_ij|

with ``L`` the loss the head returns (``loss_weight``, label weights and the head's
``avg_factor``, the number of positives, included). Here that gradient is computed by hand in
the forward pass, from the same intermediates as the loss (no hook, no extra backward; see
:func:`.weighted_sigmoid_focal_with_gradient_sums`), so the statistics of a call are exactly the
column sums of ``|grad|`` that autograd gives the logits. Entries with label weight 0 (ignored
anchors) have zero gradient and add nothing.

**When.** After every training-mode call the call's sums, all-reduced over processes, are added
(:class:`.GradientStatistics`, the mechanism EQLv2 uses), and the next call uses them. The
authors' heads call the loss once per step for all FPN levels; mmdet's FCOS does too, but
RetinaNet and ATSS call it once per level, so there a level's factors include the earlier
levels of the same step: a difference of one level's contribution to sums over all earlier
steps. The statistics are persistent buffers (``pos_grad``, ``neg_grad``, ``num_updates``):
checkpoints keep them and a resumed run continues them.
"""
from typing import Optional, Tuple, Union

import torch
from mmdet.registry import MODELS
from torch import Tensor

from .gradient_statistics import RATIO_EPS, GradientStatistics
from .weighted_focal import weighted_sigmoid_focal, weighted_sigmoid_focal_with_gradient_sums
from .weighted_sigmoid_loss import WeightedSigmoidLoss


def efl_focusing_factors(pos_grad: Tensor, neg_grad: Tensor, num_updates: Tensor,
                         gamma_b: float = 2.0,
                         scale_factor: float = 8.0) -> Tuple[Tensor, Tensor]:
    """EFL's per-class focusing factor ``gamma_j`` and weighting factor ``gamma_j / gamma_b``,
    each (C,): ``gamma_j = gamma_b + s * (1 - g_j)`` with ``g_j = clamp(P_j / (M_j + 1e-10), 0,
    1)``, and ``g_j = 1`` while ``num_updates == 0``. No host sync.

    Args:
        pos_grad: (C,) accumulated positive gradient magnitude ``P``.
        neg_grad: (C,) accumulated negative gradient magnitude ``M``.
        num_updates: 0-d tensor, how many steps have been accumulated.
        gamma_b: the base focusing factor (the focal loss's gamma; paper: 2).
        scale_factor: ``s``, how far ``gamma_j`` rises for an imbalanced class (paper: 8).
    """
    ratio = (pos_grad.float() / (neg_grad.float() + RATIO_EPS)).clamp(0, 1)
    ratio = torch.where(num_updates > 0, ratio, torch.ones_like(ratio))
    gamma = gamma_b + scale_factor * (1 - ratio)
    return gamma, gamma / gamma_b


@MODELS.register_module()
class EFL(GradientStatistics, WeightedSigmoidLoss):
    """Equalized Focal Loss: a focal loss with a per-class focusing and weighting factor from
    the class's accumulated positive-to-negative gradient ratio (Li et al., CVPR 2022).

    For the sigmoid dense heads (RetinaNet, FCOS, ATSS, ...); see the module docstring for the
    formulas and where the statistics are collected.

    Args:
        num_classes: number of foreground classes C (C sigmoid logits, no background logit).
        scale_factor: ``s`` of the focusing factor ``gamma_j = gamma_b + s (1 - g_j)``
            (paper and authors' configs: 8).
        gamma: the base focusing factor ``gamma_b`` (> 0; the focal loss's gamma, 2.0 when not
            given), so that a head's ``FocalLoss`` config turns into EFL by its type alone.
        alpha: the focal loss's weight of positives (0.25 when not given).
        **kwargs: ``categories``, ``reduction``, ``loss_weight``, ``use_sigmoid`` (see
            :class:`WeightedSigmoidLoss`); ``base_loss`` can only be ``'focal'``.

    Example::

        bbox_head=dict(num_classes=1203, loss_cls=dict(
            type='EFL', num_classes=1203, categories='lvis_v1',   # keeps use_sigmoid,
            scale_factor=8.0))                                    # gamma=2, alpha=0.25
    """

    head_families = ('dense',)
    head_family_reason = (
        'EFL is a loss for one-stage dense detectors (RetinaNet, FCOS, ATSS, ...), whose '
        'factors balance the positive and negative anchors or points of each class; the paper '
        'defines it for no other head. On a RoI head use EQLv2, the gradient-guided two-stage '
        'loss it builds on')

    def __init__(self, num_classes: int, scale_factor: float = 8.0,
                 gamma: Optional[float] = None, alpha: Optional[float] = None,
                 base_loss: Optional[str] = None, **kwargs) -> None:
        if isinstance(scale_factor, bool) or not isinstance(scale_factor, (int, float)) \
                or not 0 <= scale_factor < float('inf'):
            raise ValueError(f'EFL: scale_factor must be a finite number >= 0, got '
                             f'{scale_factor!r} (the paper uses 8).')
        if base_loss not in (None, 'focal'):
            raise ValueError(f"EFL is a focal loss: base_loss must be 'focal' (or not given), "
                             f'got {base_loss!r}. For a gradient-guided BCE use EQLv2.')
        super().__init__(num_classes, gamma=gamma, alpha=alpha, base_loss='focal', **kwargs)
        if not self.gamma > 0:
            raise ValueError('EFL: gamma (the base focusing factor gamma_b) must be > 0: the '
                             'weighting factor is gamma_j / gamma_b (the paper uses 2).')
        self.scale_factor = float(scale_factor)
        # persistent: saved in checkpoints and restored on resume
        self.register_gradient_statistics(num_classes)

    def focusing_factors(self) -> Tuple[Tensor, Tensor]:
        """The (C,) focusing factors ``gamma_j`` and weighting factors ``gamma_j / gamma_b``
        the next call uses."""
        return efl_focusing_factors(self.pos_grad, self.neg_grad, self.num_updates,
                                    self.gamma, self.scale_factor)

    @torch.no_grad()
    def weights(self, cls_score: Tensor, labels: Tensor,
                label_weights: Optional[Tensor] = None) -> Tensor:
        """(N, C) weights: the weighting factor ``gamma_j / gamma_b`` of each column (an
        expanded view of the (C,) factors, no (N, C) copy)."""
        _, weight = self.focusing_factors()
        return weight.unsqueeze(0).expand(cls_score.size(0), -1)

    def weighted_base_loss(self, cls_score: Tensor, labels: Tensor, weights: Tensor,
                           label_weights: Optional[Tensor], reduction: str,
                           avg_factor: Optional[Union[float, Tensor]]) -> Tensor:
        """The focal loss with per-class ``gamma_j`` times the weighting factors; in training
        mode, this call's ``|dL/dx|`` sums (summed over processes) are then added to the
        statistics. A collective call under distributed training, once per loss call."""
        gamma, _ = self.focusing_factors()
        if not self.training:
            return weighted_sigmoid_focal(cls_score, labels, weights, label_weights, reduction,
                                          avg_factor, gamma=gamma, alpha=self.alpha)
        loss, sums = weighted_sigmoid_focal_with_gradient_sums(
            cls_score, labels, weights, label_weights, reduction, avg_factor,
            gamma=gamma, alpha=self.alpha)
        # |gradient| of what this call returns, loss_weight included
        self.add_gradient_statistics(sums * abs(self.loss_weight))
        return loss

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, scale_factor={self.scale_factor}'
