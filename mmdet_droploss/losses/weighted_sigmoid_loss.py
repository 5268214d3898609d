"""The module skeleton of every loss here: a weight rule over a per-element sigmoid loss.

A loss in this package is

    L = 1/N * sum_i sum_j  w_ij * l(x_ij, y_ij)        (paper, eq. (1), (3), (5))

over C foreground logits per sample (no background logit): ``l`` is the per-element base loss
(:func:`weighted_sigmoid_bce`) and ``w_ij`` constant weights that each loss defines in
:meth:`WeightedSigmoidLoss.weights`. This class holds what they all share: the category
metadata, the mmdet loss interface (``label_weights``, ``avg_factor``, ``reduction_override``),
input checks with errors that name the fix, and the custom-classifier hooks that mmdet's
``BBoxHead`` asks a loss for (C classifier outputs through ``get_cls_channels``, sigmoid scores
with a zero background column through ``get_activation``, foreground-aware accuracies through
``get_accuracy``), as mmdet's Seesaw loss does.
"""
from abc import ABCMeta, abstractmethod
from typing import Dict, Optional

import torch
from torch import Tensor, nn

from ..categories import load_categories
from .weighted_bce import weighted_sigmoid_bce

REDUCTIONS = ('none', 'mean', 'sum')


class WeightedSigmoidLoss(nn.Module, metaclass=ABCMeta):
    """Base class: a per-element sigmoid loss over C logits times the weights of :meth:`weights`.

    Args:
        num_classes: number of foreground classes C; the classifier gets C outputs.
        categories: category metadata: ``'lvis_v0.5'``, ``'lvis_v1'`` or the path of a
            frequency file or LVIS/COCO annotation file
            (:func:`mmdet_droploss.categories.load_categories`).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
    """

    #: mmdet's BBoxHead asks the loss for the classifier width, the score activation and the
    #: accuracy through these flags (see ``BBoxHead.custom_cls_channels`` and friends).
    custom_cls_channels = True
    custom_activation = True
    custom_accuracy = True

    def __init__(self,
                 num_classes: int,
                 categories: str = 'lvis_v0.5',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        name = type(self).__name__
        if reduction not in REDUCTIONS:
            raise ValueError(f'{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}.')
        info = load_categories(categories)
        if not isinstance(num_classes, int) or num_classes != info.num_classes:
            raise ValueError(
                f'{name}: num_classes={num_classes!r} but categories={categories!r} has '
                f'{info.num_classes} classes. Set num_classes={info.num_classes} (and the same '
                'in the bbox head), or point categories at the metadata of your dataset.')
        self.num_classes = num_classes
        self.categories = categories
        #: the category metadata the weights are built from (subclasses read it in __init__)
        self.category_info = info
        #: dataset category ids in label order (checked against the dataset by CheckCategoriesHook)
        self.category_ids = tuple(int(i) for i in info.ids)
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.register_buffer('group_index', info.group_index(), persistent=False)
        # Analysis hooks set this to read back the weights of the last call.
        self.keep_weights = False
        self.last_weights: Optional[Tensor] = None
        self._labels_checked = False

    @abstractmethod
    def weights(self, cls_score: Tensor, labels: Tensor,
                label_weights: Optional[Tensor] = None) -> Tensor:
        """The (N, C) constant weights ``w_ij`` of this call (bool or float, on the device of
        ``cls_score``). Every loss defines its own."""

    # -- mmdet loss interface --------------------------------------------------------------
    def forward(self,
                cls_score: Tensor,
                labels: Tensor,
                label_weights: Optional[Tensor] = None,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of one RoI-head call.

        Args:
            cls_score: (N, C) logits.
            labels: (N,) labels in ``[0, C]``, ``C`` = background.
            label_weights: optional (N,) proposal weights (mmdet's RoI heads pass them).
            avg_factor: normaliser of ``'mean'``; mmdet's RoI heads pass the number of sampled
                proposals, i.e. the paper's ``1/N``.
            reduction_override: overrides ``reduction`` for this call.
        """
        reduction = reduction_override or self.reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction_override must be one of {REDUCTIONS}, got {reduction!r}.')
        self._check_inputs(cls_score, labels, label_weights)
        weights = self.weights(cls_score, labels, label_weights)
        if self.keep_weights:
            self.last_weights = weights.float()
        loss = weighted_sigmoid_bce(cls_score, labels, weights, label_weights,
                                    reduction=reduction, avg_factor=avg_factor)
        return self.loss_weight * loss

    def get_cls_channels(self, num_classes: int) -> int:
        """Classifier width for a head with ``num_classes`` classes: C (no background logit)."""
        if num_classes != self.num_classes:
            raise ValueError(
                f'{type(self).__name__} was built with num_classes={self.num_classes} but the bbox '
                f'head has num_classes={num_classes}; set both to the number of classes of the '
                'dataset.')
        return num_classes

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """Test-time scores: ``sigmoid(x)`` for the C classes and a zero background column
        (mmdet's post-processing expects (N, C + 1) scores with background last)."""
        self._check_width(cls_score)
        scores = cls_score.sigmoid()
        return torch.cat([scores, scores.new_zeros(scores.size(0), 1)], dim=1)

    def get_accuracy(self, cls_score: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """Accuracies (in %) for the training log.

        ``acc``: all proposals, predicting the top class when its probability exceeds 0.5 and
        background otherwise; ``acc_fg``: top-1 accuracy over the foreground proposals (0 when
        there are none). Both stay on the device.
        """
        self._check_width(cls_score)
        with torch.no_grad():
            top_score, top_class = cls_score.max(dim=1)
            predicted = torch.where(top_score > 0, top_class, torch.full_like(top_class, self.num_classes))
            is_fg = labels < self.num_classes
            acc = (predicted == labels).float().mean() * 100 if labels.numel() else cls_score.new_tensor(0.)
            num_fg = is_fg.sum().clamp(min=1).float()
            acc_fg = ((top_class == labels) & is_fg).sum().float() * 100 / num_fg
        return dict(acc=acc, acc_fg=acc_fg)

    # -- validation ------------------------------------------------------------------------
    def _check_width(self, cls_score: Tensor) -> None:
        if cls_score.dim() != 2 or cls_score.size(1) != self.num_classes:
            raise ValueError(
                f'{type(self).__name__} expects (N, {self.num_classes}) logits (one per class, no '
                f'background logit) but got shape {tuple(cls_score.shape)}. The classifier must have '
                f'{self.num_classes} outputs: build it with an mmdet BBoxHead (it asks the loss '
                'through get_cls_channels) or give your own layer num_classes outputs.')

    def _check_inputs(self, cls_score: Tensor, labels: Tensor, label_weights: Optional[Tensor]) -> None:
        self._check_width(cls_score)
        if labels.shape != cls_score.shape[:1]:
            raise ValueError(f'labels must have shape ({cls_score.size(0)},), got {tuple(labels.shape)}.')
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise TypeError(f'labels must be an integer tensor, got {labels.dtype}.')
        if label_weights is not None and label_weights.shape != labels.shape:
            raise ValueError(f'label_weights must have shape {tuple(labels.shape)}, '
                             f'got {tuple(label_weights.shape)}.')
        # The range check needs the values on the host: do it on the first call only, so that
        # a wrong label encoding fails at once without a sync in every training step.
        if not self._labels_checked and labels.numel():
            low, high = int(labels.min()), int(labels.max())
            if low < 0 or high > self.num_classes:
                raise ValueError(
                    f'labels must be in [0, {self.num_classes}] ({self.num_classes} = background), '
                    f'got values in [{low}, {high}]. Is num_classes right for this dataset?')
            self._labels_checked = True

    def extra_repr(self) -> str:
        return (f'num_classes={self.num_classes}, categories={self.categories!r}, '
                f'reduction={self.reduction!r}, loss_weight={self.loss_weight}')
