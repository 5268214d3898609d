"""The module skeleton of every loss here: a weight rule over a per-element sigmoid loss.

A loss in this package is

    L = 1/N * sum_i sum_j  w_ij * l(x_ij, y_ij)        (paper, eq. (1), (3), (5))

over C foreground logits per sample (no background logit): ``l`` is the per-element base loss,
sigmoid BCE (:func:`weighted_sigmoid_bce`, the paper's, for RoI heads) or the sigmoid focal loss
(:func:`weighted_sigmoid_focal`, the own loss of dense and DETR-style heads), on ``p =
sigmoid(x)`` or, for BCE, GOL's Gumbel ``p = exp(-exp(-x))`` (:mod:`.activations`), and ``w_ij``
constant weights that each loss defines in :meth:`WeightedSigmoidLoss.weights`. This class holds
what they all share: the category metadata, the base loss, the mmdet loss interface
(``label_weights``, ``avg_factor``, ``reduction_override``), input checks with errors that name
the fix, the build-time check of the head (:mod:`.head_support`), and the custom-classifier
hooks that mmdet's ``BBoxHead`` asks a loss for (C classifier outputs through
``get_cls_channels``, sigmoid scores with a zero background column through ``get_activation``,
foreground-aware accuracies through ``get_accuracy``), as mmdet's Seesaw loss does.
"""
from abc import ABCMeta, abstractmethod
from typing import Dict, Optional, Union

import torch
from torch import Tensor, nn

from ..categories import load_categories
from .activations import ACTIVATIONS, activation_function, check_activation
from .head_support import building_module, head_family
from .weighted_bce import weighted_sigmoid_bce
from .weighted_focal import weighted_sigmoid_focal

REDUCTIONS = ('none', 'mean', 'sum')
BASE_LOSSES = ('bce', 'focal')
#: keys a softmax loss_cls leaves behind when a config swaps in one of these losses without
#: ``_delete_=True`` (mmdet's CrossEntropyLoss, and DETRHead's class weights)
_SOFTMAX_KEYS = ('class_weight', 'bg_cls_weight', 'ignore_index', 'avg_non_ignore', 'use_mask')


class WeightedSigmoidLoss(nn.Module, metaclass=ABCMeta):
    """Base class: a per-element sigmoid loss over C logits times the weights of :meth:`weights`.

    Args:
        num_classes: number of foreground classes C; the classifier gets C outputs.
        categories: category metadata: ``'lvis_v0.5'``, ``'lvis_v1'`` or the path of a
            frequency file or LVIS/COCO annotation file
            (:func:`mmdet_droploss.categories.load_categories`).
        reduction: ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight: multiplier of the loss.
        base_loss: the per-element loss the weights multiply: ``'bce'`` (sigmoid BCE, the
            paper's) or ``'focal'`` (sigmoid focal loss). ``None`` (default): the head's own,
            i.e. ``'focal'`` when ``gamma`` or ``alpha`` is given or the loss is built by a
            dense or DETR-style head, ``'bce'`` otherwise (RoI heads, or built on its own).
        gamma: the focal loss's focusing parameter (>= 0); 2.0 when not given.
        alpha: the focal loss's weight of positive terms (in [0, 1]); 0.25 when not given.
        use_sigmoid: must be True (accepted because mmdet's dense heads read it from the
            loss_cls config to size their classifier: C sigmoid outputs).
        activation: ``'sigmoid'`` (default) or ``'gumbel'``: GOL's ``p = exp(-exp(-x))`` in the
            training loss (BCE only), the weight rules that read ``p`` and the test-time scores
            (RoI heads only: dense and DETR-style heads score with the sigmoid themselves).
    """

    #: DETR-style heads read it from the built loss, dense heads from its config
    use_sigmoid = True

    #: mmdet's BBoxHead asks the loss for the classifier width, the score activation and the
    #: accuracy through these flags (see ``BBoxHead.custom_cls_channels`` and friends).
    custom_cls_channels = True
    custom_activation = True
    custom_accuracy = True
    #: the head families (see head_support.py) this loss can serve, and why not the others
    head_families = ('roi', 'dense', 'detr')
    head_family_reason = ('it needs the classifier width and scores that BBoxHead asks the '
                          'loss for')
    #: the activations (see activations.py) this loss's weight rule is defined for
    activations = tuple(ACTIVATIONS)

    def __init__(self,
                 num_classes: int,
                 categories: str = 'lvis_v0.5',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 base_loss: Optional[str] = None,
                 gamma: Optional[float] = None,
                 alpha: Optional[float] = None,
                 use_sigmoid: bool = True,
                 activation: str = 'sigmoid',
                 **unexpected) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_classes = num_classes
        # The head first: a head that cannot take the loss at all is the fundamental problem,
        # and a config merged into its previous loss_cls also carries that loss's own keys
        # (GFL's QualityFocalLoss leaves beta), which would otherwise be reported first.
        #: the family of the head that built this loss: 'roi', 'dense', 'detr' or None (built on
        #: its own); a head that cannot take the loss has raised already
        self.head_family = head_family(building_module(self), self)
        if self.head_family is not None and self.head_family not in self.head_families:
            raise ValueError(
                f'{name} works in {" / ".join(self.head_families)} heads only, not as the '
                f'loss_cls of a {self.head_family} head: {self.head_family_reason}.')
        _check_arguments(name, use_sigmoid, unexpected)
        if reduction not in REDUCTIONS:
            raise ValueError(f'{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}.')
        info = load_categories(categories)
        if not isinstance(num_classes, int) or num_classes != info.num_classes:
            raise ValueError(
                f'{name}: num_classes={num_classes!r} but categories={categories!r} has '
                f'{info.num_classes} classes. Set num_classes={info.num_classes} (and the same '
                'in the bbox head), or point categories at the metadata of your dataset.')
        self.categories = categories
        #: the category metadata the weights are built from (subclasses read it in __init__)
        self.category_info = info
        #: dataset category ids in label order (checked against the dataset by CheckCategoriesHook)
        self.category_ids = tuple(int(i) for i in info.ids)
        self.reduction = reduction
        self.loss_weight = loss_weight
        if self.head_family in ('dense', 'detr'):
            # These heads size the classifier, score and log accuracy themselves; BBoxHead's
            # hooks would give them a background column (dense heads look at them too).
            self.custom_cls_channels = self.custom_activation = self.custom_accuracy = False
        self.base_loss, self.gamma, self.alpha = _base_loss(name, base_loss, gamma, alpha,
                                                            self.head_family)
        self.activation = check_activation(name, activation, self.activations, self.base_loss,
                                           self.head_family)
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
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Loss of one head call.

        Args:
            cls_score: (N, C) logits (of RoIs, anchors or points, or queries).
            labels: (N,) labels in ``[0, C]``, ``C`` = background.
            label_weights: optional (N,) sample weights (mmdet's heads pass them; 0 = ignored).
            avg_factor: normaliser of ``'mean'``, as the head passes it: the number of sampled
                proposals on RoI heads (the paper's ``1/N``), of positive anchors or points on
                dense heads, DETR's ``cls_avg_factor`` (matched queries) on DETR-style heads.
            reduction_override: overrides ``reduction`` for this call.
        """
        reduction = reduction_override or self.reduction
        if reduction not in REDUCTIONS:
            raise ValueError(f'reduction_override must be one of {REDUCTIONS}, got {reduction!r}.')
        self._check_inputs(cls_score, labels, label_weights)
        weights = self.weights(cls_score, labels, label_weights)
        if self.keep_weights:
            self.last_weights = weights.float()
        return self.loss_weight * self.weighted_base_loss(cls_score, labels, weights,
                                                          label_weights, reduction, avg_factor)

    def weighted_base_loss(self, cls_score: Tensor, labels: Tensor, weights: Tensor,
                           label_weights: Optional[Tensor], reduction: str,
                           avg_factor: Optional[Union[float, Tensor]]) -> Tensor:
        """The base loss (BCE or focal) of every element times ``weights``, reduced; before
        ``loss_weight``. A loss that changes the base loss itself overrides it: EFL (per-class
        focusing, gradient statistics), ECM (margin-adjusted logits)."""
        if self.base_loss == 'focal':
            return weighted_sigmoid_focal(cls_score, labels, weights, label_weights,
                                          reduction=reduction, avg_factor=avg_factor,
                                          gamma=self.gamma, alpha=self.alpha)
        return weighted_sigmoid_bce(cls_score, labels, weights, label_weights,
                                    reduction=reduction, avg_factor=avg_factor,
                                    activation=self.activation)

    def get_cls_channels(self, num_classes: int) -> int:
        """Classifier width for a head with ``num_classes`` classes: C (no background logit)."""
        if num_classes != self.num_classes:
            raise ValueError(
                f'{type(self).__name__} was built with num_classes={self.num_classes} but the bbox '
                f'head has num_classes={num_classes}; set both to the number of classes of the '
                'dataset.')
        return num_classes

    def get_activation(self, cls_score: Tensor) -> Tensor:
        """Test-time scores: ``p(x)`` (``sigmoid(x)``, or ``exp(-exp(-x))`` with
        ``activation='gumbel'``) for the C classes and a zero background column (mmdet's
        post-processing expects (N, C + 1) scores with background last)."""
        self._check_width(cls_score)
        scores = activation_function(self.activation).prob(cls_score)
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
            half = activation_function(self.activation).half_logit  # p = 1/2
            predicted = torch.where(top_score > half, top_class,
                                    torch.full_like(top_class, self.num_classes))
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
                'through get_cls_channels), give a dense head use_sigmoid=True in loss_cls, or '
                'give your own layer num_classes outputs.')

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
        base = (f'focal(gamma={self.gamma}, alpha={self.alpha})' if self.base_loss == 'focal'
                else 'bce')
        return (f'num_classes={self.num_classes}, categories={self.categories!r}, '
                f'base_loss={base}, activation={self.activation!r}, '
                f'reduction={self.reduction!r}, loss_weight={self.loss_weight}')


def _check_arguments(name: str, use_sigmoid: bool, unexpected: dict) -> None:
    """Clear errors for keys a config carries over from the head's previous loss_cls."""
    softmax_keys = sorted(key for key in unexpected if key in _SOFTMAX_KEYS)
    if use_sigmoid is not True or softmax_keys:
        found = ([f'use_sigmoid={use_sigmoid!r}'] if use_sigmoid is not True else []) + softmax_keys
        raise ValueError(
            f'{name} is a sigmoid loss over C logits, but its loss_cls config has '
            f'{", ".join(found)}: settings of a softmax loss, inherited from the base config? '
            f"Replace the loss with loss_cls=dict(_delete_=True, type='{name}', ...). A softmax "
            "head such as DETR's cannot take it; sigmoid heads can (RoI heads, RetinaNet, FCOS, "
            'ATSS, Deformable DETR, DINO, ...).')
    if unexpected:
        raise TypeError(f'{name} got unexpected argument(s) {sorted(unexpected)}. It takes '
                        'num_classes, categories, tail_groups, tail_threshold, base_loss, gamma, '
                        'alpha, use_sigmoid, activation, loss_weight, reduction and its own '
                        'arguments.')


def _base_loss(name: str, base_loss: Optional[str], gamma: Optional[float],
               alpha: Optional[float], family: Optional[str]):
    """``(base_loss, gamma, alpha)`` resolved and checked (see :class:`WeightedSigmoidLoss`)."""
    if base_loss is None:
        focal = gamma is not None or alpha is not None or family in ('dense', 'detr')
        base_loss = 'focal' if focal else 'bce'
    if base_loss not in BASE_LOSSES:
        raise ValueError(f'{name}: base_loss must be one of {BASE_LOSSES}, got {base_loss!r}.')
    if base_loss == 'bce':
        if gamma is not None or alpha is not None:
            raise ValueError(f'{name}: gamma and alpha are focal-loss arguments but '
                             "base_loss='bce'; drop them or set base_loss='focal'.")
        return base_loss, None, None
    gamma = 2.0 if gamma is None else gamma
    alpha = 0.25 if alpha is None else alpha
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma >= 0:
        raise ValueError(f'{name}: gamma must be a number >= 0, got {gamma!r} (focal loss: 2.0).')
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha <= 1:
        raise ValueError(f'{name}: alpha must be a number in [0, 1], got {alpha!r} '
                         '(focal loss: 0.25).')
    return base_loss, float(gamma), float(alpha)
