"""Background equalization loss (BEQL), DropLoss paper eq. (4)."""
import math
from typing import Optional

from mmdet.registry import MODELS
from torch import Tensor

from .activations import activation_function
from .tail_weighted_loss import TailWeightedSigmoidLoss


def beql_background_weights(cls_score: Tensor, tail_mask: Tensor, log_base: float,
                            activation: str = 'sigmoid') -> Tensor:
    """Background-row weights of eq. (4): ``w_ij = 1 - T_j * min(-log_b(p_ij), 1)``.

    A tail class keeps more of its background gradient the more confidently it is already
    predicted on that background proposal; ``p_ij <= 1/b`` gives weight 0. ``p`` is the
    loss's activation (``sigmoid``, or GOL's ``exp(-exp(-x))``), read through its ``log p``
    (``log_sigmoid``, ``-exp(-x)``) so that very negative logits give weight 0, not NaN.
    """
    log_p = activation_function(activation).log_prob(cls_score.float())
    neg_log_b = -log_p / math.log(log_base)
    return 1 - tail_mask.unsqueeze(0) * neg_log_b.clamp(max=1)


@MODELS.register_module()
class BEQL(TailWeightedSigmoidLoss):
    """Background equalization loss (paper, eq. (4)).

    Foreground rows as :class:`EQL`; on background rows tail class j gets the weight
    ``1 - min(-log_b(p_ij), 1)``. A large ``log_base`` approaches EQL; the paper's best overall
    AP is with b = 4 and b = 5 (its Table 3).

    Args:
        log_base: the log base ``b > 1``.
        **kwargs: see :class:`TailWeightedSigmoidLoss`.
    """

    def __init__(self, num_classes: int, log_base: float = 4.0, **kwargs) -> None:
        if not isinstance(log_base, (int, float)) or not log_base > 1 or math.isinf(log_base):
            raise ValueError(f'BEQL: log_base must be a finite number > 1, got {log_base!r} '
                             '(the paper uses b = 4 or 5).')
        super().__init__(num_classes, **kwargs)
        self.log_base = float(log_base)

    def background_weights(self, cls_score: Tensor, labels: Tensor,
                           label_weights: Optional[Tensor]) -> Tensor:
        return beql_background_weights(cls_score, self.tail_mask, self.log_base, self.activation)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, log_base={self.log_base}'
