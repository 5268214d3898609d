"""Built-in data: synthetic long-tailed LVIS-format datasets for the demo, the tests and the
loss benchmark (the LVIS-regime set), and an LVIS-v1-like validation set with detector output
for the evaluation's tests and benchmark (``lvis_v1_like``)."""
from .lvis_regime import LVISRegimeSpec, generate_lvis_regime
from .lvis_v1_like import generate_lvis_like
from .synthetic_lvis import (TRAIN_ANN, TRAIN_IMAGES, VAL_ANN, VAL_IMAGES, SyntheticLVISSpec,
                             category_names, generate_synthetic_lvis)

__all__ = [
    'LVISRegimeSpec', 'generate_lvis_regime', 'generate_lvis_like',
    'SyntheticLVISSpec', 'category_names', 'generate_synthetic_lvis', 'TRAIN_ANN', 'VAL_ANN',
    'TRAIN_IMAGES', 'VAL_IMAGES'
]
