"""Per-class gradient statistics accumulated over training, shared by EQLv2 and EFL.

Both losses weight class j by the ratio ``g_j = P_j / M_j`` of the positive to the negative
gradient magnitude it has accumulated over all previous training steps and over all processes
(EQLv2: Tan et al., CVPR 2021; EFL: Li et al., CVPR 2022). This mixin keeps the sums as
persistent buffers of the loss module, so that they are saved in checkpoints and restored on
resume, and adds each step's sums all-reduced over processes, without a host sync:

* ``pos_grad``, ``neg_grad``: (C,) float, the accumulated ``P`` and ``M``;
* ``num_updates``: 0-d long, how many times sums were added (0: nothing accumulated yet).

Each loss computes its step's (2, C) sums itself: what counts as "the gradient" differs (see
:func:`.eqlv2_gradient_sums` and :func:`.weighted_sigmoid_focal_with_gradient_sums`).
"""
import torch
from mmengine.dist import all_reduce
from torch import Tensor

#: added to the accumulated negative gradient before dividing, as in both authors' code
RATIO_EPS = 1e-10


class GradientStatistics:
    """Mixin for an ``nn.Module`` loss: the persistent, all-reduced ``P`` and ``M`` buffers."""

    def register_gradient_statistics(self, num_classes: int) -> None:
        """Register ``pos_grad``, ``neg_grad`` (C,) and ``num_updates`` (0-d) as persistent
        buffers (call in ``__init__``, after ``nn.Module.__init__``)."""
        self.register_buffer('pos_grad', torch.zeros(num_classes))
        self.register_buffer('neg_grad', torch.zeros(num_classes))
        self.register_buffer('num_updates', torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def add_gradient_statistics(self, sums: Tensor) -> None:
        """Add this step's (2, C) positive (row 0) and negative (row 1) sums, summed over all
        processes. A collective call under distributed training: every process must make it,
        the same number of times (each loss does, once per training-mode call)."""
        sums = sums.float().contiguous()  # collectives on a strided view would miss elements
        all_reduce(sums)  # summed over processes; a no-op outside distributed runs
        self.pos_grad += sums[0]
        self.neg_grad += sums[1]
        self.num_updates += 1
