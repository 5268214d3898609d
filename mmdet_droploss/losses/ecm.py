"""ECM: the Effective Class-Margin loss (Cho and Krähenbühl, "Long-tail Detection with Effective
Class-Margins", ECCV 2022; their code: janghyuncho/ECM-Loss).

The classifier has C + 1 sigmoid logits, the last an objectness channel whose target is 1 on
background proposals (:class:`ObjectnessSigmoidLoss`). Each channel j is a binary classifier with
``n_j`` positive and ``T - n_j`` negative training samples, counted as in the authors' code: the
image count of class j for the C classes, ``n_bg = fg_bg_ratio * sum_k n_k`` for the objectness
channel (6.3313: the background-to-foreground ratio the authors measured on Mask R-CNN), and
``T = sum_{k <= C} n_k`` over all C + 1 channels. With ``n_j^+ = n_j`` and ``n_j^- = T - n_j``,
the effective class-margins of the positive and negative side are

    m_j^+ = log(1 + (n_j^+ / n_j^-)^(1/4)),   m_j^- = log(1 + (n_j^- / n_j^+)^(1/4))

and the loss is each channel's margin-adjusted binary cross-entropy, weighted per class by
``w_j = a_j log((1 + a_j) / a_j)`` with ``a_j = n_j^- / n_j^+``:

    L = 1/N sum_i sum_j  w_j * BCE(z_ij, y_ij),
    sigmoid(z_ij) = exp(x_ij + m_j^+) / (exp(x_ij + m_j^+) + exp(-x_ij + m_j^-)),

over the N sampled proposals, i.e. ``z = 2 x + m_j`` with ``m_j = m_j^+ - m_j^- =
log(n_j^+ / n_j^-) / 4``: a negative margin for every channel with fewer positives than
negatives (all but the objectness channel on LVIS). The margins are training-only: the test
scores are ``sigmoid(x_j) * (1 - sigmoid(x_bg))`` on the raw logits, as in the authors' code.
Unlike that code, which divides by the number of proposals and ignores them, mmdet's
``label_weights`` and ``avg_factor`` are honoured (on RoI heads they are ones and the number of
sampled proposals, so the value is the same).
"""
from typing import Optional, Tuple, Union

import numpy as np
import torch
from mmdet.registry import MODELS
from torch import Tensor

from .objectness_loss import ObjectnessSigmoidLoss

#: the authors' default background-to-foreground sample ratio (measured on Mask R-CNN)
FG_BG_RATIO = 6.3313


def ecm_margins(image_count: Tensor, fg_bg_ratio: float = FG_BG_RATIO) -> Tuple[Tensor, Tensor]:
    """The (C + 1,) logit margins ``m_j = m_j^+ - m_j^-`` and class weights ``w_j`` of ECM from
    the C classes' image counts (see the module docstring), objectness last; float32.

    Computed in float64: on LVIS v1, ``a_j`` reaches ~10^7 and ``w_j = a_j log(1 + 1/a_j)``
    is a difference near 1 that float32 would round.
    """
    counts = image_count.double()
    counts = torch.cat([counts, counts.sum(0, keepdim=True) * fg_bg_ratio])
    negatives = counts.sum() - counts
    margin = 0.25 * (counts.log() - negatives.log())
    ratio = negatives / counts
    weight = ratio * torch.log1p(1 / ratio)
    return margin.float(), weight.float()


def ecm_logits(cls_score: Tensor, margin: Tensor) -> Tensor:
    """The margin-adjusted logits ``z = 2 x + m`` whose sigmoid BCE is ECM's, in float32."""
    return torch.add(margin, cls_score.float(), alpha=2.0)


@MODELS.register_module()
class ECM(ObjectnessSigmoidLoss):
    """Effective Class-Margin loss: a BCE over C + 1 sigmoid logits with per-class margins and
    weights derived from image counts (Cho and Krähenbühl, ECCV 2022); see the module docstring.

    Needs C + 1 classifier outputs (mmdet's ``BBoxHead`` asks the loss through
    :meth:`get_cls_channels`). No hyper-parameter but the background ratio.

    Args:
        num_classes: number of foreground classes C; the classifier gets C + 1 outputs.
        fg_bg_ratio: background samples per foreground image count, the objectness channel's
            ``n_bg / sum_k n_k`` (authors: 6.3313; their argument's name).
        **kwargs: ``categories`` (whose image counts give the margins: ``'lvis_v1'``,
            ``'lvis_v0.5'``, a frequency file or the training annotation file), ``reduction``,
            ``loss_weight`` (see :class:`WeightedSigmoidLoss`).

    Example::

        loss_cls=dict(type='ECM', num_classes=1203, categories='lvis_v1')
    """

    def __init__(self, num_classes: int, fg_bg_ratio: float = FG_BG_RATIO, **kwargs) -> None:
        if isinstance(fg_bg_ratio, bool) or not isinstance(fg_bg_ratio, (int, float)) \
                or not 0 < fg_bg_ratio < float('inf'):
            raise ValueError(f'ECM: fg_bg_ratio must be a finite number > 0, got {fg_bg_ratio!r} '
                             f'(the authors use {FG_BG_RATIO}).')
        super().__init__(num_classes, **kwargs)
        if self.base_loss != 'bce':
            raise ValueError("ECM is a binary cross-entropy with margins: base_loss must be "
                             "'bce' (the default on RoI heads); drop base_loss, gamma and alpha.")
        self.fg_bg_ratio = float(fg_bg_ratio)
        counts = np.asarray(self.category_info.image_count)
        if (counts < 1).any():
            empty = [self.category_info.names[j] for j in np.flatnonzero(counts < 1)]
            raise ValueError(
                f'ECM: {len(empty)} categories of categories={self.categories!r} have no training '
                f'image (image_count 0: {", ".join(map(str, empty[:5]))}'
                f'{", ..." if len(empty) > 5 else ""}), so their margin log(n_j / (N - n_j)) is '
                'undefined. Point categories at the training annotations (or a frequency file '
                'written from them by tools/dataset_frequency.py) in which every class appears.')
        margin, weight = ecm_margins(torch.as_tensor(counts), self.fg_bg_ratio)
        self.register_buffer('margin', margin, persistent=False)
        self.register_buffer('class_weight', weight, persistent=False)

    @torch.no_grad()
    def weights(self, cls_score: Tensor, labels: Tensor,
                label_weights: Optional[Tensor] = None) -> Tensor:
        """(N, C + 1) weights ``w_j``, the same for every proposal (a broadcast view)."""
        return self.class_weight.unsqueeze(0).expand(cls_score.size(0), -1)

    def weighted_base_loss(self, cls_score: Tensor, labels: Tensor, weights: Tensor,
                           label_weights: Optional[Tensor], reduction: str,
                           avg_factor: Optional[Union[float, Tensor]]) -> Tensor:
        """The weighted BCE of the margin-adjusted logits ``2 x + m`` (:func:`ecm_logits`; the
        gradient reaches ``x`` through the affine map). The inputs were checked, and the
        weights taken, on the raw logits."""
        return super().weighted_base_loss(ecm_logits(cls_score, self.margin), labels, weights,
                                          label_weights, reduction, avg_factor)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, fg_bg_ratio={self.fg_bg_ratio}'
