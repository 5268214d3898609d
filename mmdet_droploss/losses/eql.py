"""Equalization loss (Tan et al., CVPR 2020), as stated in the DropLoss paper, eq. (1)-(2)."""
from mmdet.registry import MODELS

from .tail_weighted_loss import TailWeightedSigmoidLoss


@MODELS.register_module()
class EQL(TailWeightedSigmoidLoss):
    """Equalization loss: ``w_ij = 1 - E(r_i) * T_j * (1 - y_ij)`` (eq. (2)).

    A foreground proposal does not discourage the tail classes other than its own; background
    proposals keep full weight on every class. See :class:`TailWeightedSigmoidLoss` for the
    arguments.

    Example::

        loss_cls=dict(type='EQL', num_classes=1230, categories='lvis_v0.5')
    """
