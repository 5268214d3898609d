"""Fixes for known breakages of the pinned stack, each applied once, at import time.

* :mod:`.config_scope`: ``_base_ = 'mmdet_droploss::...'`` (MMEngine knows only its own list).
* :mod:`.checkpoint`: ``torch.load(weights_only=True)`` vs MMEngine's own checkpoints.
* :mod:`.checkpoint_files`: atomic checkpoint writes; resume skips truncated checkpoints.
* :mod:`.process_lifetime`: ranks and data-loader workers die with their parent (no orphans).
* :mod:`.distributed`: ``init_dist`` and DDP on machines without CUDA (gloo).
* :mod:`.lvis_numpy`: lvis 0.5.3's ``np.float`` under numpy >= 1.24.
"""
from . import (checkpoint, checkpoint_files, config_scope, distributed, lvis_numpy,  # noqa: F401
               process_lifetime)
