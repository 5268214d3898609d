"""The mmdet metric's face (layer 5): ``FastLVISMetric`` (``lvis_metric``), its arguments
(``options``), each image's record (``records``), the evaluation round every rank takes part
in (``round``) and the result keys (``results``)."""
from .lvis_metric import FastLVISMetric

__all__ = ['FastLVISMetric']
