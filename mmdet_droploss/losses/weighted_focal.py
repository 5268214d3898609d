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

``gamma`` is a number, or a (C,) tensor giving each class its own focusing parameter (EFL's
focusing factor ``gamma_j``). :func:`weighted_sigmoid_focal_with_gradient_sums` also returns
the per-class sums of ``|dL/dx|`` over the positive and the negative entries, computed in the
forward pass from the same intermediates (EFL's gradient statistics).
"""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from .weighted_bce import row_weights, sigmoid_targets


Gamma = Union[float, Tensor]


def sigmoid_focal_terms(cls_score: Tensor, targets: Tensor, gamma: Gamma, alpha: float) -> Tensor:
    """Element-wise ``FL(x_ij, y_ij)`` in float32, differentiable by autograd (used for
    ``reduction='none'``; the reduced loss has its gradient written out below).
    ``-log(p) = softplus(-x)`` and ``-log(1 - p) = softplus(x)`` stay finite for any logit."""
    x = cls_score.float()
    p = x.sigmoid()
    y = targets.float()
    gamma = gamma.float() if isinstance(gamma, Tensor) else gamma
    positive = alpha * (1 - p).pow(gamma) * F.softplus(-x)
    negative = (1 - alpha) * p.pow(gamma) * F.softplus(x)
    return y * positive + (1 - y) * negative


def _target_index(labels: Tensor, num_classes: int):
    """Column of each row's target (clamped for background rows) and the foreground mask."""
    return labels.clamp(max=num_classes - 1).unsqueeze(1), (labels < num_classes).unsqueeze(1)


def _focusing(gamma: Gamma, index: Tensor) -> Tuple[Gamma, Gamma]:
    """``gamma`` for all (N, C) entries and for each row's target entry (N, 1): the number
    itself, or the (C,) tensor as a (1, C) row and gathered at the targets."""
    if not isinstance(gamma, Tensor):
        return gamma, gamma
    gamma = gamma.float()
    return gamma.unsqueeze(0), gamma[index]


def _positive_derivative(x_t: Tensor, gamma_t: Gamma, alpha: float) -> Tensor:
    """``d FL(x, 1) / dx = -alpha * q^gamma * (q + gamma * p * softplus(-x))`` (<= 0)."""
    p_t, q_t = torch.sigmoid(x_t), torch.sigmoid(-x_t)
    return -alpha * q_t.pow(gamma_t) * (q_t + gamma_t * p_t * F.softplus(-x_t))


class _WeightedSigmoidFocalSum(torch.autograd.Function):
    """``sum_i row_i * sum_j w_ij * FL(x_ij, y_ij)`` with the gradient written out.

    Every entry is first treated as a negative, ``(1 - alpha) p^gamma softplus(x)``; the one
    target entry of each foreground row is then corrected (``y`` is one-hot), as the BCE core
    does. The weights are constants. With ``q = 1 - p = sigmoid(-x)``:

        d FL(x, 0) / dx = (1 - alpha) * p^gamma * (p + gamma * q * softplus(x))
        d FL(x, 1) / dx = -alpha * q^gamma * (q + gamma * p * softplus(-x))

    Only the inputs are saved; the backward recomputes ``p`` (no (N, C) intermediates are kept
    between the passes, which matters with the ~10^5 anchors x 10^3 classes of a dense head).
    With ``with_sums`` the forward also returns the (2, C) column sums of ``|dL/dx_ij|`` over
    the positive (row 0) and the negative (row 1) entries, a non-differentiable output.
    """

    @staticmethod
    def forward(ctx, cls_score: Tensor, labels: Tensor, weights: Tensor, row_weights: Tensor,
                gamma: Gamma, alpha: float, with_sums: bool = False):
        x = cls_score.float()
        index, is_fg = _target_index(labels, x.size(1))
        gamma_all, gamma_t = _focusing(gamma, index)
        p = x.sigmoid() if with_sums else None
        p_gamma = p.pow(gamma_all) if with_sums else x.sigmoid().pow_(gamma_all)
        negative = F.softplus(x)
        if with_sums:  # d FL(x, 0) / dx / (1 - alpha) of every entry, times its weight
            neg_grad = (1 - p).mul_(negative).mul_(gamma_all).add_(p).mul_(p_gamma)
            neg_grad.mul_(weights)
            del p
        per_row = negative.mul_(p_gamma).mul_(weights).sum(1) * (1 - alpha)
        del negative, p_gamma
        x_t = x.gather(1, index)
        w_t = weights.gather(1, index).float()
        positive_t = alpha * torch.sigmoid(-x_t).pow(gamma_t) * F.softplus(-x_t)
        negative_t = (1 - alpha) * torch.sigmoid(x_t).pow(gamma_t) * F.softplus(x_t)
        target_term = ((positive_t - negative_t) * w_t * is_fg).squeeze(1)
        ctx.save_for_backward(cls_score, labels, weights, row_weights,
                              *([gamma] if isinstance(gamma, Tensor) else []))
        ctx.gamma, ctx.alpha = (None if isinstance(gamma, Tensor) else gamma), alpha
        loss = ((per_row + target_term) * row_weights).sum()
        if not with_sums:
            return loss
        # negatives: every entry but the foreground rows' targets, weighted by the rows
        neg_grad.scatter_(1, index, neg_grad.gather(1, index) * ~is_fg)
        negative_sums = (row_weights.float() @ neg_grad) * (1 - alpha)
        positive_t = -_positive_derivative(x_t, gamma_t, alpha) * w_t * is_fg
        positive_sums = x.new_zeros(x.size(1)).index_add_(
            0, index.squeeze(1), positive_t.squeeze(1) * row_weights.float())
        sums = torch.stack([positive_sums, negative_sums])
        ctx.mark_non_differentiable(sums)
        return loss, sums

    @staticmethod
    def backward(ctx, grad_output: Tensor, *unused):
        cls_score, labels, weights, row_weights, *tensor_gamma = ctx.saved_tensors
        alpha = ctx.alpha
        x = cls_score.float()
        index, is_fg = _target_index(labels, x.size(1))
        gamma, gamma_t = _focusing(tensor_gamma[0] if tensor_gamma else ctx.gamma, index)
        p = x.sigmoid()
        grad = F.softplus(x).mul_(1 - p).mul_(gamma).add_(p).mul_(p.pow(gamma)).mul_(1 - alpha)
        positive_t = _positive_derivative(x.gather(1, index), gamma_t, alpha)
        grad.scatter_add_(1, index, (positive_t - grad.gather(1, index)) * is_fg)
        grad.mul_(weights).mul_((row_weights * grad_output).unsqueeze(1))
        return grad.to(cls_score.dtype), None, None, None, None, None, None


def weighted_sigmoid_focal(cls_score: Tensor,
                           labels: Tensor,
                           weights: Tensor,
                           label_weights: Optional[Tensor] = None,
                           reduction: str = 'mean',
                           avg_factor: Optional[Union[float, Tensor]] = None,
                           gamma: Gamma = 2.0,
                           alpha: float = 0.25) -> Tensor:
    """``sum_ij w_ij * label_weight_i * FL(x_ij, y_ij)``, reduced; the arguments are those of
    :func:`.weighted_sigmoid_bce` plus the focal loss's ``gamma`` (>= 0; a number, or a (C,)
    tensor: one per class) and ``alpha`` (in [0, 1]). With all weights 1 and a number ``gamma``
    it equals mmdet's ``FocalLoss(use_sigmoid=True)``."""
    if reduction == 'none':
        targets = sigmoid_targets(labels, cls_score.size(-1))
        loss = sigmoid_focal_terms(cls_score, targets, gamma, alpha)
        return loss * weights * row_weights(cls_score, label_weights).unsqueeze(1)
    return _WeightedSigmoidFocalSum.apply(
        cls_score, labels, weights, row_weights(cls_score, label_weights, reduction, avg_factor),
        _gamma_argument(gamma), float(alpha))


def weighted_sigmoid_focal_with_gradient_sums(
        cls_score: Tensor,
        labels: Tensor,
        weights: Tensor,
        label_weights: Optional[Tensor] = None,
        reduction: str = 'mean',
        avg_factor: Optional[Union[float, Tensor]] = None,
        gamma: Gamma = 2.0,
        alpha: float = 0.25) -> Tuple[Tensor, Tensor]:
    """:func:`weighted_sigmoid_focal` and the (2, C) float32 column sums of the magnitude of its
    gradient, computed in the forward pass without autograd: row 0 ``sum_i y_ij |dL/dx_ij|``,
    row 1 ``sum_i (1 - y_ij) |dL/dx_ij|`` (for ``reduction='none'``, of the sum of the terms).
    The sums are detached and stay on the device."""
    if reduction == 'none':
        rows = row_weights(cls_score, label_weights)
        _, sums = _WeightedSigmoidFocalSum.apply(cls_score.detach(), labels, weights, rows,
                                                 _gamma_argument(gamma), float(alpha), True)
        return weighted_sigmoid_focal(cls_score, labels, weights, label_weights, 'none',
                                      gamma=gamma, alpha=alpha), sums
    return _WeightedSigmoidFocalSum.apply(
        cls_score, labels, weights, row_weights(cls_score, label_weights, reduction, avg_factor),
        _gamma_argument(gamma), float(alpha), True)


def _gamma_argument(gamma: Gamma) -> Gamma:
    return gamma.detach() if isinstance(gamma, Tensor) else float(gamma)
