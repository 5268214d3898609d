"""The classifier of the losses with C + 1 sigmoid logits, the last an *objectness* channel
(EQLv2, ECM), through the hooks mmdet's ``BBoxHead`` asks a loss for.

Class j is trained on its own logit ``x_j`` and a background proposal (label C) on the last,
``x_bg`` (its target column, as mmdet's background label). At test time

    score_j = sigmoid(x_j) * (1 - sigmoid(x_bg)),   score_bg = sigmoid(x_bg)

(the authors' code of both losses), in mmdet's layout with background last.
"""
from typing import Dict

import torch
from torch import Tensor

from .weighted_sigmoid_loss import WeightedSigmoidLoss


class ObjectnessSigmoidLoss(WeightedSigmoidLoss):
    """Base class of the C + 1-logit losses: :meth:`weights` returns (N, C + 1) weights, the
    classifier gets C + 1 outputs and the scores above. RoI heads only (the hooks are
    ``BBoxHead``'s), sigmoid only (the scores are defined on it)."""

    head_families = ('roi',)
    activations = ('sigmoid',)

    def get_cls_channels(self, num_classes: int) -> int:
        """C + 1: a logit per class and the objectness channel."""
        return super().get_cls_channels(num_classes) + 1

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """(N, C + 1) test scores: ``sigmoid(x_j) * (1 - sigmoid(x_bg))`` for the classes and
        ``sigmoid(x_bg)`` last, in mmdet's layout (background last)."""
        self._check_width(cls_score)
        prob = cls_score.sigmoid()
        foreground = cls_score[:, -1:].neg().sigmoid_()  # 1 - sigmoid(x_bg), without rounding
        return torch.cat([prob[:, :-1] * foreground, prob[:, -1:]], dim=1)

    def get_accuracy(self, cls_score: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """``acc``: the most probable of the C class scores and background (the objectness
        probability) against the label; ``acc_fg``: top-1 over the foreground proposals."""
        self._check_width(cls_score)
        with torch.no_grad():
            predicted = self.get_activation(cls_score).argmax(dim=1)
            top_class = cls_score[:, :-1].argmax(dim=1)
            is_fg = labels < self.num_classes
            acc = ((predicted == labels).float().mean() * 100 if labels.numel()
                   else cls_score.new_tensor(0.))
            num_fg = is_fg.sum().clamp(min=1).float()
            acc_fg = ((top_class == labels) & is_fg).sum().float() * 100 / num_fg
        return dict(acc=acc, acc_fg=acc_fg)

    def _check_width(self, cls_score: Tensor) -> None:
        width = self.num_classes + 1
        if cls_score.dim() != 2 or cls_score.size(1) != width:
            raise ValueError(
                f'{type(self).__name__} expects (N, {width}) logits (one per class and an '
                f'objectness channel last) but got shape {tuple(cls_score.shape)}. Build the '
                'classifier with an mmdet BBoxHead (it asks the loss through '
                f'get_cls_channels) or give your own layer num_classes + 1 = {width} outputs.')
