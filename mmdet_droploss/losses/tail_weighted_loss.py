"""The skeleton shared by EQL, BEQL and DropLoss: the tail-class weight rule.

Each of the three is a :class:`WeightedSigmoidLoss` whose weights follow one pattern (paper,
eq. (2), (4), (5)):

* foreground samples do not push down tail classes other than their own (EQL, eq. (2)):
  ``w_ij = 1 - T_j * (1 - y_ij)``;
* background samples get weights that each loss defines in :meth:`background_weights`.
"""
from typing import Optional, Sequence

import torch
from torch import Tensor

from .weighted_bce import sigmoid_targets
from .weighted_sigmoid_loss import WeightedSigmoidLoss


def foreground_weights(labels: Tensor, tail_mask: Tensor) -> Tensor:
    """EQL weights of eq. (2), ``w_ij = 1 - E(r_i) * T_j * (1 - y_ij)``, as an (N, C) bool.

    Background rows (``labels == C``) are all true: EQL keeps their full weight, the other
    losses replace them.
    """
    num_classes = tail_mask.numel()
    is_target = sigmoid_targets(labels, num_classes)
    is_fg = (labels < num_classes).unsqueeze(1)
    return ~(is_fg & tail_mask.unsqueeze(0) & ~is_target)


class TailWeightedSigmoidLoss(WeightedSigmoidLoss):
    """Base class of the sigmoid losses that treat tail classes specially.

    Args:
        num_classes: number of foreground classes C; the classifier gets C outputs.
        categories: category metadata (see :class:`WeightedSigmoidLoss`).
        tail_groups: the LVIS frequency groups that are "tail" (``T_j = 1``); rare + common by
            default, which is what the paper uses.
        tail_threshold: the released code's image-frequency threshold ``lambda``
            (``T_j = image_count_j / N_img < lambda``); overrides ``tail_groups`` when given.
        **kwargs: ``reduction``, ``loss_weight`` (see :class:`WeightedSigmoidLoss`).
    """

    def __init__(self,
                 num_classes: int,
                 categories: str = 'lvis_v0.5',
                 tail_groups: Sequence[str] = ('r', 'c'),
                 tail_threshold: Optional[float] = None,
                 **kwargs) -> None:
        super().__init__(num_classes, categories, **kwargs)
        self.register_buffer('tail_mask', self.category_info.tail_mask(tail_groups, tail_threshold),
                             persistent=False)

    # -- weights ---------------------------------------------------------------------------
    def background_weights(self, cls_score: Tensor, labels: Tensor,
                           label_weights: Optional[Tensor]) -> Optional[Tensor]:
        """(N, C) weights for the background rows (the foreground rows are ignored), or
        ``None`` to keep weight 1 on background rows, as EQL does."""
        return None

    @torch.no_grad()
    def weights(self, cls_score: Tensor, labels: Tensor,
                label_weights: Optional[Tensor] = None) -> Tensor:
        """The (N, C) weights ``w_ij`` of this call: bool where they are all 0 or 1 (cheaper to
        build and to multiply by), float otherwise; on the device of ``cls_score``."""
        weights = foreground_weights(labels, self.tail_mask)
        background = self.background_weights(cls_score, labels, label_weights)
        if background is None:
            return weights
        is_bg = (labels >= self.num_classes).unsqueeze(1)
        return torch.where(is_bg, background, weights)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, num_tail={int(self.tail_mask.sum())}'
