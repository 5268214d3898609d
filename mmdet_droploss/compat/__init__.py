"""Fixes for known breakages of the pinned stack, each applied once, at import time.

* :mod:`.checkpoint`: ``torch.load(weights_only=True)`` vs MMEngine's own checkpoints.
* :mod:`.distributed`: ``init_dist`` and DDP on machines without CUDA (gloo).
"""
from . import checkpoint, distributed  # noqa: F401
