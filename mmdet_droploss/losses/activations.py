"""The activation ``p = f(x)`` that turns a logit into a class probability, and the binary
cross-entropy terms on it that the functional cores sum.

Two activations:

* ``'sigmoid'``: ``p = 1 / (1 + exp(-x))``, the paper's and every loss's default.
* ``'gumbel'``: ``p = exp(-exp(-x))``, the CDF of the standard Gumbel distribution (GOL:
  Alexandridis et al., "Long-tailed Instance Segmentation using Gumbel Optimized Loss",
  ECCV 2022; their code: kostas1515/GOL). Its BCE is, with ``u = exp(-x)``,

      -log p       = u
      -log (1 - p) = -log(-expm1(-u)) = log1p(1 / expm1(u))

  computed in the last closed form rather than as ``log`` of ``p`` (which loses ``1 - p`` to
  rounding once ``p`` is near 1): accurate in float32 at both ends, ``1 - p`` near 0 and near
  1. GOL's code clamps the logit to ``[-4, 10]`` (:data:`GUMBEL_LOGIT_RANGE`) before the
  activation in the training loss; we do the same, so an element outside that range
  contributes the loss at the bound and no gradient, exactly as the published models were
  trained. Inside it every term and gradient is finite and accurate in float32; outside it
  they are constants. The clamp means a classifier must start inside the
  range: GOL initialises its bias at -2 (our sigmoid-prior bias, -6.9, would give the positives
  no gradient at all). The test-time scores (:meth:`Activation.prob`) are not clamped.

A loss over C logits with one-hot targets ``y`` is summed as

    BCE(x, y) = negative(x) + y * target_delta(x),   negative = -log(1 - p),
                                                     target_delta = -log p + log(1 - p)

so that a core computes ``negative`` on every entry and corrects the one target entry per row.
For the cores' hand-written backward passes the gradients of both terms are written out,
``negative_grad`` and ``positive_grad = d(-log p)/dx``; a core writes the latter on the target
entries rather than adding a correction to the former (``sigmoid(x) - 1`` would lose the
small gradient of a confident positive to rounding: ``-sigmoid(-x)`` keeps it).
"""
import math
from abc import ABC, abstractmethod
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: GOL's clamp of the logit before the Gumbel activation in the training loss (their code)
GUMBEL_LOGIT_RANGE: Tuple[float, float] = (-4.0, 10.0)


class Activation(ABC):
    """An activation's probability and its BCE terms, element-wise on float32 logits."""

    name: str = ''
    #: the logit at which ``p = 1/2`` (the accuracy's foreground threshold)
    half_logit: float = 0.0

    @abstractmethod
    def prob(self, x: Tensor) -> Tensor:
        """Test-time probability ``p``."""

    @abstractmethod
    def log_prob(self, x: Tensor) -> Tensor:
        """``log p`` (BEQL's background weights read it); may be ``-inf``, never NaN."""

    @abstractmethod
    def negative(self, x: Tensor) -> Tensor:
        """``-log(1 - p)``: the BCE of a negative entry."""

    @abstractmethod
    def negative_grad(self, x: Tensor) -> Tensor:
        """``d negative / dx``."""

    def negative_with_grad(self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """``negative(x)`` and, for an activation whose gradient shares most of its work with
        the value, ``negative_grad(x)`` computed with it (the core then keeps it for the
        backward pass); ``None`` when the backward pass should compute it afresh."""
        return self.negative(x), None

    @abstractmethod
    def target_delta(self, x: Tensor) -> Tensor:
        """``-log p + log(1 - p)``: a positive entry's BCE minus its negative one."""

    @abstractmethod
    def positive_grad(self, x: Tensor) -> Tensor:
        """``d(-log p) / dx``: the gradient of a positive entry."""

    def bce(self, x: Tensor, targets: Tensor) -> Tensor:
        """Element-wise ``BCE(x, y)``, differentiable by autograd (for ``reduction='none'``)."""


class SigmoidActivation(Activation):
    """``p = sigmoid(x)``: ``negative = softplus(x)``, ``target_delta = -x``."""

    name = 'sigmoid'
    half_logit = 0.0

    def prob(self, x: Tensor) -> Tensor:
        return x.sigmoid()

    def log_prob(self, x: Tensor) -> Tensor:
        return F.logsigmoid(x)

    def negative(self, x: Tensor) -> Tensor:
        return F.softplus(x)

    def negative_grad(self, x: Tensor) -> Tensor:
        return x.sigmoid()

    def target_delta(self, x: Tensor) -> Tensor:
        return -x

    def positive_grad(self, x: Tensor) -> Tensor:
        return x.neg().sigmoid_().neg_()

    def bce(self, x: Tensor, targets: Tensor) -> Tensor:
        # softplus on both sides: accurate for small losses, where torch's BCE-with-logits
        # takes log(1 + tiny) on CPU
        return torch.where(targets.bool(), F.softplus(-x), F.softplus(x))


class GumbelActivation(Activation):
    """``p = exp(-exp(-x))`` (GOL), the training terms on the logit clamped to
    :data:`GUMBEL_LOGIT_RANGE` (see the module docstring)."""

    name = 'gumbel'
    half_logit = -math.log(math.log(2.0))  # exp(-exp(-x)) = 1/2

    @staticmethod
    def _clamped(x: Tensor, with_mask: bool = False) -> Tuple[Tensor, Optional[Tensor]]:
        """``u = exp(-clamp(x))`` (a new tensor) and, if asked, the mask where the clamp stops
        the gradient (outside the bounds; they are inside, as in ``torch.clamp``'s backward)."""
        low, high = GUMBEL_LOGIT_RANGE
        clamped = x.clamp(low, high)
        outside = clamped != x if with_mask else None
        return clamped.neg_().exp_(), outside

    def prob(self, x: Tensor) -> Tensor:
        return x.neg().exp_().neg_().exp_()

    def log_prob(self, x: Tensor) -> Tensor:
        return x.neg().exp_().neg_()

    def negative(self, x: Tensor) -> Tensor:
        # in place on one new tensor; u is in [exp(-10), exp(4)], so expm1(u) neither
        # underflows nor overflows
        u, _ = self._clamped(x)
        return u.expm1_().reciprocal_().log1p_()

    def negative_grad(self, x: Tensor) -> Tensor:
        # d/dx -log(1 - exp(-u)) = u exp(-u) / (1 - exp(-u)) = u / expm1(u)
        u, outside = self._clamped(x, with_mask=True)
        return u.div_(torch.expm1(u)).masked_fill_(outside, 0)

    def negative_with_grad(self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        # both from r = 1 / expm1(u) = p / (1 - p): negative = log1p(r), gradient = u r
        u, outside = self._clamped(x, with_mask=True)
        ratio = torch.expm1(u).reciprocal_()
        grad = u.mul_(ratio).masked_fill_(outside, 0)
        return ratio.log1p_(), grad

    def target_delta(self, x: Tensor) -> Tensor:
        u, _ = self._clamped(x)
        return u - torch.expm1(u).reciprocal_().log1p_()

    def positive_grad(self, x: Tensor) -> Tensor:
        u, outside = self._clamped(x, with_mask=True)
        return u.neg_().masked_fill_(outside, 0)

    def bce(self, x: Tensor, targets: Tensor) -> Tensor:
        low, high = GUMBEL_LOGIT_RANGE
        u = torch.exp(-x.clamp(low, high))
        return torch.where(targets.bool(), u, torch.log1p(1 / torch.expm1(u)))


ACTIVATIONS: Dict[str, Activation] = {'sigmoid': SigmoidActivation(), 'gumbel': GumbelActivation()}


def activation_function(name: str) -> Activation:
    """The :class:`Activation` called ``name`` (one of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f'activation must be one of {tuple(ACTIVATIONS)}, got {name!r}.') from None


def check_activation(loss: str, activation: str, supported: Sequence[str], base_loss: str,
                     family: Optional[str]) -> str:
    """``activation`` checked against the loss (``supported``: the activations its weight rule
    is stated for), its base loss and the family of its head; a clear error otherwise."""
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f'{loss}: activation must be one of {tuple(ACTIVATIONS)}, got '
                         f'{activation!r}.')
    if activation not in supported:
        raise ValueError(f'{loss}: activation={activation!r} is not defined for this loss (its '
                         f'rule is stated on {" / ".join(supported)} probabilities); use '
                         f'activation={supported[0]!r}.')
    if activation != 'sigmoid' and base_loss != 'bce':
        raise ValueError(f"{loss}: activation={activation!r} changes the BCE (GOL); the focal "
                         "base loss is sigmoid-only. Set base_loss='bce' or "
                         "activation='sigmoid'.")
    if activation != 'sigmoid' and family in ('dense', 'detr'):
        raise ValueError(f"{loss}: activation={activation!r} needs the RoI head's score hook "
                         '(BBoxHead asks the loss for its test-time scores), but this '
                         f"{family} head scores with the sigmoid itself. Use "
                         "activation='sigmoid' here.")
    return activation
