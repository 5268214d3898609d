"""Built-in data: synthetic long-tailed LVIS-format datasets for the demo, the tests and the
loss benchmark (the LVIS-regime set)."""
from .lvis_regime import LVISRegimeSpec, generate_lvis_regime
from .synthetic_lvis import (TRAIN_ANN, TRAIN_IMAGES, VAL_ANN, VAL_IMAGES, SyntheticLVISSpec,
                             category_names, generate_synthetic_lvis)

__all__ = [
    'LVISRegimeSpec', 'generate_lvis_regime',
    'SyntheticLVISSpec', 'category_names', 'generate_synthetic_lvis', 'TRAIN_ANN', 'VAL_ANN',
    'TRAIN_IMAGES', 'VAL_IMAGES'
]
