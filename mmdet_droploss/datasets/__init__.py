"""Built-in data: a synthetic long-tailed LVIS-format dataset for the demo and the tests."""
from .synthetic_lvis import (TRAIN_ANN, TRAIN_IMAGES, VAL_ANN, VAL_IMAGES, SyntheticLVISSpec,
                             category_names, generate_synthetic_lvis)

__all__ = [
    'SyntheticLVISSpec', 'category_names', 'generate_synthetic_lvis', 'TRAIN_ANN', 'VAL_ANN',
    'TRAIN_IMAGES', 'VAL_IMAGES'
]
