"""Long-tail sigmoid classification losses, registered in mmdet's ``MODELS`` registry."""
from .activations import ACTIVATIONS, GUMBEL_LOGIT_RANGE, activation_function
from .bce import BCE
from .beql import BEQL, beql_background_weights
from .drop_loss import (DropLoss, drop_background_weights, drop_keep_probability,
                        fixed_keep_probability)
from .efl import EFL, efl_focusing_factors
from .ecm import ECM, ecm_logits, ecm_margins
from .eql import EQL
from .eqlv2 import EQLv2, eqlv2_class_weights, eqlv2_gradient_sums
from .federated_loss import FederatedLoss, federated_classes
from .objectness_loss import ObjectnessSigmoidLoss
from .tail_weighted_loss import TailWeightedSigmoidLoss, foreground_weights
from .head_support import head_family
from .weighted_bce import sigmoid_targets, weighted_sigmoid_bce
from .weighted_focal import sigmoid_focal_terms, weighted_sigmoid_focal
from .weighted_sigmoid_loss import WeightedSigmoidLoss

__all__ = [
    'BEQL', 'DropLoss', 'EQL', 'TailWeightedSigmoidLoss', 'beql_background_weights',
    'drop_background_weights', 'drop_keep_probability', 'fixed_keep_probability',
    'WeightedSigmoidLoss', 'foreground_weights', 'sigmoid_targets', 'weighted_sigmoid_bce',
    'head_family', 'sigmoid_focal_terms', 'weighted_sigmoid_focal',
    'EQLv2', 'eqlv2_class_weights', 'eqlv2_gradient_sums', 'FederatedLoss', 'federated_classes',
    'EFL', 'efl_focusing_factors',
    'ECM', 'ecm_logits', 'ecm_margins', 'ObjectnessSigmoidLoss', 'BCE', 'ACTIVATIONS',
    'GUMBEL_LOGIT_RANGE', 'activation_function'
]
