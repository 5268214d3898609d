"""A simulator of the RoI classifier's training at LVIS's real category counts (issue 29).

What the long-tail losses act on is the box head's classifier over sampled RoIs: pixels, the
backbone, the RPN and the box and mask heads only produce those RoIs. The simulator keeps that
stage at LVIS's own scale (every category's number of training images, LVIS's number of
training images, mmdet's RoI sampling fractions, the paper's schedule shape, LVIS's federated
evaluation) and replaces the rest by a stated generative model of RoI features
(:mod:`.features`). The losses run unchanged: the classifier is mmdet's ``BBoxHead`` and
each step calls ``BBoxHead.loss``.

Modules, in the order data flows: :mod:`.metadata` (category counts) -> :mod:`.spec` (a
design's parameters) -> :mod:`.images` (which categories each image holds) -> :mod:`.features`
(what a RoI looks like) -> :mod:`.sampler` (a training batch's RoIs) -> :mod:`.training` (the
head, the schedule, RFS) -> :mod:`.validation` (LVIS-style validation images) ->
:mod:`.evaluation` (scores, detections, ``FastLVISMetric``) -> :mod:`.run` (one method, one
seed, resumable).
"""
from .metadata import LVISCounts, load_counts
from .spec import SimulatorSpec

__all__ = ['LVISCounts', 'load_counts', 'SimulatorSpec']
