"""How much gradient the classification loss sends to each class, and from where (paper Fig. 1a).

For a sigmoid BCE over C logits, weighted by ``w_ij`` (the loss's weights times mmdet's
per-proposal ``label_weights``) and normalised by ``avg_factor``, the gradient on logit
``x_ij`` is

    dL/dx_ij = loss_weight * w_ij * (sigmoid(x_ij) - y_ij) / avg_factor.

Its magnitude splits into the *positive* part (``y_ij = 1``: encourages class j) and the
*negative* (discouraging) part, which comes either from foreground proposals of other classes or
from background proposals. The paper's observation is that, for rare classes, almost all of the
discouraging gradient comes from background proposals; DropLoss removes part of it.

:func:`gradient_sums` computes the six per-class sums (three parts, with and without the loss's
weights ``w``) of one loss call, vectorised and on the device of the logits.
"""
from __future__ import annotations

from typing import Dict, Optional, Union

import torch
from torch import Tensor

PARTS = ('positive', 'negative_foreground', 'negative_background')
KINDS = ('weighted', 'unweighted')
GROUPS = ('r', 'c', 'f')
GROUP_NAMES = {'r': 'rare', 'c': 'common', 'f': 'frequent'}


@torch.no_grad()
def gradient_sums(cls_score: Tensor,
                  labels: Tensor,
                  weights: Optional[Tensor] = None,
                  label_weights: Optional[Tensor] = None,
                  avg_factor: Optional[Union[float, Tensor]] = None,
                  loss_weight: float = 1.0) -> Tensor:
    """Per-class sums of the gradient magnitude on the logits, shape (2, 3, C).

    Axis 0: ``KINDS`` (with the loss's weights ``w``, and with ``w = 1``: what plain sigmoid BCE
    would send); axis 1: ``PARTS``. ``label_weights`` and ``avg_factor`` apply to both kinds.

    Args:
        cls_score: (N, C) logits.
        labels: (N,) labels in [0, C]; C is background.
        weights: (N, C) weights of the loss (``None``: all ones, as for plain BCE).
        label_weights: (N,) proposal weights passed by the head.
        avg_factor: the loss's normaliser (``None``: N, as the losses default to); a number
            or a 0-d tensor (kept on the device).
        loss_weight: the loss module's ``loss_weight``.
    """
    num, num_classes = cls_score.shape
    prob = cls_score.detach().float().sigmoid()
    labels = labels.to(prob.device).unsqueeze(1)
    is_fg = labels < num_classes
    # a comparison, not boolean indexing: no data-dependent shape, hence no host sync
    targets = labels == torch.arange(num_classes, device=prob.device)
    if avg_factor is None:
        avg_factor = max(num, 1)
    if isinstance(avg_factor, Tensor):  # stays on the device
        scale = loss_weight / avg_factor.detach().float().to(prob.device)
    else:
        scale = loss_weight / float(avg_factor)
    proposal_weight = (label_weights.detach().float().unsqueeze(1) if label_weights is not None
                       else prob.new_ones(num, 1)) * scale
    magnitude = torch.where(targets, 1.0 - prob, prob) * proposal_weight
    masks = torch.stack([targets, ~targets & is_fg, ~targets & ~is_fg])
    unweighted = (masks * magnitude).sum(dim=1)
    if weights is None:
        weighted = unweighted
    else:
        weighted = (masks * (magnitude * weights.detach().float())).sum(dim=1)
    return torch.stack([weighted, unweighted])


def group_summary(sums: Tensor, group_index: Tensor) -> Dict[str, Dict[str, Dict[str, float]]]:
    """Per frequency group: the three parts (summed over the group's classes) and the share of
    the discouraging gradient that comes from background proposals, for both kinds.

    ``sums``: (2, 3, C) accumulated :func:`gradient_sums`; ``group_index``: (C,) 0/1/2 for r/c/f.
    Converts to Python numbers (a host sync: call it at logging time, not every step).
    """
    by_group = torch.zeros(2, 3, len(GROUPS), dtype=sums.dtype, device=sums.device)
    by_group.index_add_(2, group_index.to(sums.device), sums)
    by_group = by_group.cpu()
    summary: Dict[str, Dict[str, Dict[str, float]]] = {}
    for k, kind in enumerate(KINDS):
        summary[kind] = {}
        for g, group in enumerate(GROUPS):
            parts = {part: float(by_group[k, p, g]) for p, part in enumerate(PARTS)}
            negative = parts['negative_foreground'] + parts['negative_background']
            parts['background_share'] = (parts['negative_background'] / negative
                                         if negative > 0 else float('nan'))
            summary[kind][group] = parts
    return summary
