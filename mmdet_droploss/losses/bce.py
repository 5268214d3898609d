"""The plain BCE baseline on the skeleton: every weight 1.

    L = 1/N sum_i sum_j BCE(x_ij, y_ij)

With the default sigmoid it is the value of mmdet's ``CrossEntropyCustomLoss(use_sigmoid=True)``
(the paper's baseline); with ``activation='gumbel'`` it is GOL's Gumbel BCE baseline (Alexandridis
et al., ECCV 2022), which mmdet has no loss for; with ``base_loss='focal'`` it is the plain
focal loss.
"""
from typing import Optional

import torch
from mmdet.registry import MODELS
from torch import Tensor

from .weighted_sigmoid_loss import WeightedSigmoidLoss


@MODELS.register_module()
class BCE(WeightedSigmoidLoss):
    """Sigmoid (or Gumbel) BCE over C logits with all weights 1; the arguments of
    :class:`WeightedSigmoidLoss` (``categories`` only labels the classes here).

    Example::

        loss_cls=dict(type='BCE', num_classes=1203, categories='lvis_v1', activation='gumbel')
    """

    @torch.no_grad()
    def weights(self, cls_score: Tensor, labels: Tensor,
                label_weights: Optional[Tensor] = None) -> Tensor:
        """(N, C) bool ones (a broadcast view)."""
        return cls_score.new_ones((1, 1), dtype=torch.bool).expand_as(cls_score)
