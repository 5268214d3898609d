"""The focal variant of the functional core: a weighted sigmoid focal loss over C logits.

Dense heads (RetinaNet, FCOS, ATSS, ...) and DETR-style heads (Deformable DETR, DINO) classify
with the sigmoid focal loss of Lin et al. (ICCV 2017), per element, with ``p = sigmoid(x)``:

    FL(x, 1) = -alpha       * (1 - p)^gamma * log(p)
    FL(x, 0) = -(1 - alpha) *       p^gamma * log(1 - p)

(mmdet's ``FocalLoss`` and mmcv's ``sigmoid_focal_loss``). The long-tail weights of EQL, BEQL
and DropLoss multiply it element-wise exactly as they multiply BCE in :mod:`.weighted_bce`:

    L = sum_i (label_weight_i / avg_factor) * sum_j w_ij * FL(x_ij, y_ij)

where the head passes ``avg_factor``: the number of positive anchors or points for dense heads,
DETR's ``cls_avg_factor`` (matched queries) for DETR-style heads.
"""
from typing import Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .weighted_bce import row_weights, sigmoid_targets


def sigmoid_focal_terms(cls_score: Tensor, targets: Tensor, gamma: float, alpha: float) -> Tensor:
    """Element-wise ``FL(x_ij, y_ij)`` in float32, differentiable by autograd (used for
    ``reduction='none'``; the reduced loss has its gradient written out below).
    ``-log(p) = softplus(-x)`` and ``-log(1 - p) = softplus(x)`` stay finite for any logit."""
    x = cls_score.float()
    p = x.sigmoid()
    y = targets.float()
    positive = alpha * (1 - p).pow(gamma) * F.softplus(-x)
    negative = (1 - alpha) * p.pow(gamma) * F.softplus(x)
    return y * positive + (1 - y) * negative


def _target_index(labels: Tensor, num_classes: int):
    """Column of each row's target (clamped for background rows) and the foreground mask."""
    return labels.clamp(max=num_classes - 1).unsqueeze(1), (labels < num_classes).unsqueeze(1)


class _WeightedSigmoidFocalSum(torch.autograd.Function):
    """``sum_i row_i * sum_j w_ij * FL(x_ij, y_ij)`` with the gradient written out.

    Every entry is first treated as a negative, ``(1 - alpha) p^gamma softplus(x)``; the one
    target entry of each foreground row is then corrected (``y`` is one-hot), as the BCE core
    does. The weights are constants. With ``q = 1 - p = sigmoid(-x)``:

        d FL(x, 0) / dx = (1 - alpha) * p^gamma * (p + gamma * q * softplus(x))
        d FL(x, 1) / dx = -alpha * q^gamma * (q + gamma * p * softplus(-x))

    Only the inputs are saved; the backward recomputes ``p`` (no (N, C) intermediates are kept
    between the passes, which matters with the ~10^5 anchors x 10^3 classes of a dense head).
    """

    @staticmethod
    def forward(ctx, cls_score: Tensor, labels: Tensor, weights: Tensor, row_weights: Tensor,
                gamma: float, alpha: float) -> Tensor:
        x = cls_score.float()
        index, is_fg = _target_index(labels, x.size(1))
        negative = F.softplus(x).mul_(x.sigmoid().pow_(gamma)).mul_(weights)
        per_row = negative.sum(1) * (1 - alpha)
        x_t = x.gather(1, index)
        w_t = weights.gather(1, index).float()
        positive_t = alpha * torch.sigmoid(-x_t).pow(gamma) * F.softplus(-x_t)
        negative_t = (1 - alpha) * torch.sigmoid(x_t).pow(gamma) * F.softplus(x_t)
        target_term = ((positive_t - negative_t) * w_t * is_fg).squeeze(1)
        ctx.save_for_backward(cls_score, labels, weights, row_weights)
        ctx.gamma, ctx.alpha = gamma, alpha
        return ((per_row + target_term) * row_weights).sum()

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        cls_score, labels, weights, row_weights = ctx.saved_tensors
        gamma, alpha = ctx.gamma, ctx.alpha
        x = cls_score.float()
        index, is_fg = _target_index(labels, x.size(1))
        p = x.sigmoid()
        grad = F.softplus(x).mul_(1 - p).mul_(gamma).add_(p).mul_(p.pow(gamma)).mul_(1 - alpha)
        x_t = x.gather(1, index)
        p_t, q_t = torch.sigmoid(x_t), torch.sigmoid(-x_t)
        positive_t = -alpha * q_t.pow(gamma) * (q_t + gamma * p_t * F.softplus(-x_t))
        grad.scatter_add_(1, index, (positive_t - grad.gather(1, index)) * is_fg)
        grad.mul_(weights).mul_((row_weights * grad_output).unsqueeze(1))
        return grad.to(cls_score.dtype), None, None, None, None, None


def weighted_sigmoid_focal(cls_score: Tensor,
                           labels: Tensor,
                           weights: Tensor,
                           label_weights: Optional[Tensor] = None,
                           reduction: str = 'mean',
                           avg_factor: Optional[Union[float, Tensor]] = None,
                           gamma: float = 2.0,
                           alpha: float = 0.25) -> Tensor:
    """``sum_ij w_ij * label_weight_i * FL(x_ij, y_ij)``, reduced; the arguments are those of
    :func:`.weighted_sigmoid_bce` plus the focal loss's ``gamma`` (>= 0) and ``alpha``
    (in [0, 1]). With all weights 1 it equals mmdet's ``FocalLoss(use_sigmoid=True)``."""
    if reduction == 'none':
        targets = sigmoid_targets(labels, cls_score.size(-1))
        loss = sigmoid_focal_terms(cls_score, targets, gamma, alpha)
        return loss * weights * row_weights(cls_score, label_weights).unsqueeze(1)
    return _WeightedSigmoidFocalSum.apply(
        cls_score, labels, weights, row_weights(cls_score, label_weights, reduction, avg_factor),
        float(gamma), float(alpha))
