"""The functional core shared by EQL, BEQL and DropLoss: a weighted sigmoid BCE over C logits.

All three losses of the paper are

    L = 1/N * sum_i sum_j  w_ij * BCE(x_ij, y_ij)        (paper, eq. (1), (3), (5))

with C foreground logits per proposal (no background logit), ``y_ij = 1`` iff proposal i is
labelled j (a background proposal, label C, has an all-zero target row) and constant weights
``w_ij`` that each loss defines. Only the weights differ, so only they live in the loss modules.
``BCE`` is that of ``p = sigmoid(x)`` or, with ``activation='gumbel'``, of GOL's
``p = exp(-exp(-x))`` (:mod:`.activations`).
"""
from typing import Optional, Union

import torch
from torch import Tensor

from .activations import Activation, activation_function


def sigmoid_targets(labels: Tensor, num_classes: int) -> Tensor:
    """Boolean (N, C) one-hot targets ``y_ij``; background labels (``== num_classes``) give an
    all-false row. Built by comparison rather than ``F.one_hot`` so that it never syncs with the
    host on CUDA."""
    classes = torch.arange(num_classes, device=labels.device)
    return labels.unsqueeze(1) == classes


class _WeightedSigmoidBCESum(torch.autograd.Function):
    """``sum_i row_i * sum_j w_ij * BCE(x_ij, y_ij)`` with the gradient written out.

    Since ``y`` is one-hot, ``BCE(x, y) = negative(x) + y * target_delta(x)`` (for the sigmoid:
    ``softplus(x) - y * x``) and the target term touches one entry per row; the gradient is
    ``w_ij * row_i * negative'(x_ij)`` off the target and ``w_ij * row_i * positive'(x_ij)`` on it
    (for the sigmoid: ``sigmoid(x_ij)`` and ``-sigmoid(-x_ij)``) as the weights are constants,
    the target entries written, not corrected (see :mod:`.activations`). Doing this by hand
    instead of through autograd's BCE + multiply + sum saves several passes over the (N, C)
    matrix, which is what the cost of these losses is. The sigmoid's gradient is recomputed in
    the backward pass (only the inputs are kept); the Gumbel's comes with its value and is kept
    and finished in place, so a second backward through the same graph (``retain_graph``)
    stops with PyTorch's in-place error instead of a wrong gradient.
    """

    @staticmethod
    def forward(ctx, cls_score: Tensor, labels: Tensor, weights: Tensor, row_weights: Tensor,
                activation: Activation) -> Tensor:
        logits = cls_score.float()
        num_classes = logits.size(1)
        is_fg = labels < num_classes
        index = labels.clamp(max=num_classes - 1).unsqueeze(1)
        target_term = (activation.target_delta(logits.gather(1, index))
                       * weights.gather(1, index)).squeeze(1) * is_fg
        # new tensors: weighted in place; the Gumbel's gradient comes with its value
        negative, negative_grad = activation.negative_with_grad(logits)
        per_row = negative.mul_(weights).sum(1) + target_term
        ctx.save_for_backward(cls_score, labels, weights, row_weights, negative_grad)
        ctx.activation = activation
        return (per_row * row_weights).sum()

    @staticmethod
    def backward(ctx, grad_output: Tensor):
        cls_score, labels, weights, row_weights, grad = ctx.saved_tensors
        activation = ctx.activation
        logits = cls_score.float()
        num_classes = logits.size(1)
        index = labels.clamp(max=num_classes - 1).unsqueeze(1)
        is_fg = (labels < num_classes).unsqueeze(1)
        if grad is None:  # not kept from the forward pass: computed here (the sigmoid's)
            grad = activation.negative_grad(logits)
        positive = activation.positive_grad(logits.gather(1, index))
        grad.scatter_(1, index, torch.where(is_fg, positive, grad.gather(1, index)))
        grad.mul_(weights).mul_((row_weights * grad_output).unsqueeze(1))
        return grad.to(cls_score.dtype), None, None, None, None


def weighted_sigmoid_bce(cls_score: Tensor,
                         labels: Tensor,
                         weights: Tensor,
                         label_weights: Optional[Tensor] = None,
                         reduction: str = 'mean',
                         avg_factor: Optional[float] = None,
                         activation: str = 'sigmoid') -> Tensor:
    """``sum_ij w_ij * label_weight_i * BCE(x_ij, y_ij)``, reduced.

    Args:
        cls_score: (N, C) logits, any floating dtype; the loss is computed in float32 so that
            fp16/bf16 logits under autocast give the same value as float32 ones.
        labels: (N,) labels in ``[0, C]``, ``C`` meaning background.
        weights: (N, C) constant weights ``w_ij`` (bool or float; no gradient flows through them).
        label_weights: optional (N,) per-proposal weights, as mmdet's heads pass them.
        reduction: ``'none'`` returns the (N, C) weighted terms, ``'sum'`` their sum, ``'mean'``
            their sum divided by ``avg_factor`` -- mmdet's RoI heads pass the number of sampled
            proposals, which is the paper's ``1/N`` -- or, without ``avg_factor``, by ``N``
            (a per-proposal mean, like the paper, not a mean over the N * C terms).
        avg_factor: the normaliser for ``reduction='mean'``.
        activation: ``'sigmoid'`` or ``'gumbel'`` (:mod:`.activations`): the ``p`` of the BCE.
    """
    function = activation_function(activation)
    if reduction == 'none':
        targets = sigmoid_targets(labels, cls_score.size(-1))
        loss = function.bce(cls_score.float(), targets)
        return loss * weights * row_weights(cls_score, label_weights).unsqueeze(1)
    rows = row_weights(cls_score, label_weights, reduction, avg_factor)
    return _WeightedSigmoidBCESum.apply(cls_score, labels, weights, rows, function)


def row_weights(cls_score: Tensor,
                label_weights: Optional[Tensor] = None,
                reduction: str = 'none',
                avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
    """The (N,) float32 factor each row's loss is multiplied by before summing: mmdet's
    ``label_weights`` (ones if not given), divided for ``reduction='mean'`` by ``avg_factor``
    (or by N without it) with the same ``eps`` as mmdet's ``weight_reduce_loss``. A tensor
    ``avg_factor`` (dense and DETR heads pass one) stays on the device: no host sync."""
    if label_weights is None:
        label_weights = cls_score.new_ones(cls_score.size(0), dtype=torch.float32)
    label_weights = label_weights.float()
    if reduction == 'mean':
        if avg_factor is None:
            avg_factor = max(cls_score.size(0), 1)
        return label_weights / (avg_factor + torch.finfo(torch.float32).eps)
    if avg_factor is not None and reduction == 'sum':
        raise ValueError('avg_factor can not be used with reduction="sum"')
    return label_weights
