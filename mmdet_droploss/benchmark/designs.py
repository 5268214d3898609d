"""The benchmark's designs: the data set, the test-time settings and the RFS rule that a run is
trained and evaluated with, one named entry per design tried (issue 18's search).

A design is chosen by the calibration criteria (:mod:`.calibration`) alone, on methods whose
LVIS ranking is published; the held-out methods are run only on the design frozen as
``FROZEN_DESIGN`` (``docs/benchmark.md`` logs every design with its figures, failed ones
included). Everything a design changes is here, so that a run's recipe is the method's config
plus its design and nothing else.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Tuple

from ..datasets.lvis_regime import LVISRegimeSpec
from ..datasets.lvis_regime_vocabulary import long_tail_counts

#: LVIS's repeat factor sampling threshold t = 0.001 of LVIS v0.5's 57k training images repeats
#: the categories annotated in fewer than about 57 images (Gupta et al. 2019; mmdet's LVIS
#: configs). A design keeps that absolute count: t = 57 / its number of training images.
LVIS_RFS_IMAGE_COUNT = 57


@dataclass(frozen=True)
class BenchmarkDesign:
    name: str
    #: what the design changes and why, one line (the design log repeats it)
    summary: str
    spec: LVISRegimeSpec = field(default_factory=LVISRegimeSpec)
    #: config overrides every run of the design gets (``--cfg-options`` syntax)
    cfg_options: Tuple[str, ...] = ()

    @property
    def rfs_threshold(self) -> float:
        """``ClassBalancedDataset(oversample_thr=...)``: categories annotated in fewer than
        ``LVIS_RFS_IMAGE_COUNT`` training images are repeated."""
        return LVIS_RFS_IMAGE_COUNT / self.spec.num_train_images

    def train_options(self, uses_rfs: bool) -> Tuple[str, ...]:
        rfs = (f'train_dataloader.dataset.oversample_thr={self.rfs_threshold:.6g}',) \
            if uses_rfs else ()
        return self.cfg_options + rfs


# LVIS v1 val's test-time settings (mmdet's LVIS configs): 1000 RPN proposals per image, of which
# the RoI head's 300 best detections (score above 1e-4) are kept.
LVIS_TEST_PROPOSALS = ('model.test_cfg.rpn.nms_pre=1000', 'model.test_cfg.rpn.max_per_img=1000')


# Every method's classifier starts at the same prior probability, 0.001, the sigmoid init the
# paper's (and EQL's, DropLoss's) configs use. EQLv2 and ECM default to their authors' bias 0
# (p = 0.5); with EQLv2's negative weight of ~7e-5 for a class that has had no positives, a tail
# class barely leaves 0.5 in a 1200-iteration schedule (scarce4x_distinct: EQLv2 APc 0.1). The
# override indexes the head's first init entry, which every benchmark config makes the Normal
# init of fc_cls (tests/test_benchmark_calibration.py checks it).
CLASSIFIER_PRIOR = ('model.roi_head.bbox_head.init_cfg.0.bias_prob=0.001',)


def schedule_options(max_iters: int) -> Tuple[str, ...]:
    """The benchmark schedule (``schedule_bench.py``) stretched to ``max_iters``: the same
    warm-up, the learning-rate step at 80 %, one evaluation and one checkpoint at the end."""
    return (f'train_cfg.max_iters={max_iters}', f'train_cfg.val_interval={max_iters}',
            f'param_scheduler.1.end={max_iters}',
            f'param_scheduler.1.milestones=[{max_iters * 4 // 5}]',
            f'default_hooks.checkpoint.interval={max_iters}')


def _scaled_counts(factor: int) -> Tuple[int, ...]:
    """The issue-10 long tail with the frequent bin ``factor`` times larger: LVIS's bins count
    images absolutely (rare 1-10, common 11-100), so a larger training split keeps the tail's
    counts and grows the head's."""
    counts = long_tail_counts()
    return tuple(c * factor if c > 100 else c for c in counts)


# The tail 4x scarcer against the head: 4x the training images and the frequent bin, the same
# tail counts; a validation split with every rare class in >= 20 images.
SCARCE_TAIL_SPEC = dataclasses.replace(
    LVISRegimeSpec(), train_image_counts=_scaled_counts(4), num_train_images=2880,
    num_val_images=360, min_val_images_rare=20)

DESIGNS: Dict[str, BenchmarkDesign] = {d.name: d for d in (
    BenchmarkDesign(
        'issue10',
        'the issue-10 set: 60 categories, 720 / 240 images, 200 test proposals'),
    BenchmarkDesign(
        'scarce4x',
        'the tail 4x scarcer against the head (2880 training images, frequent bin x4, the '
        'same tail counts and schedule: rare classes seen 1.7 times per annotated image), '
        "LVIS's 1000 test proposals, rare classes in >= 20 of 360 validation images",
        SCARCE_TAIL_SPEC, LVIS_TEST_PROPOSALS),
    BenchmarkDesign(
        'scarce4x_distinct',
        "scarce4x with a tail that looks like no frequent class (striped, in (shape, hue) "
        "cells no frequent category has), as most of LVIS's rare classes look like no "
        "frequent one; the tail still shares its fill with the clutter",
        dataclasses.replace(SCARCE_TAIL_SPEC, tail_look='distinct'), LVIS_TEST_PROPOSALS),
    BenchmarkDesign(
        'scarce4x_distinct_prior',
        'scarce4x_distinct with every classifier initialised at the prior probability 0.001 '
        '(EQLv2 and ECM otherwise start at bias 0, p = 0.5)',
        dataclasses.replace(SCARCE_TAIL_SPEC, tail_look='distinct'),
        LVIS_TEST_PROPOSALS + CLASSIFIER_PRIOR),
    BenchmarkDesign(
        'scarce4x_distinct_prior_2x',
        'scarce4x_distinct_prior trained twice as long (2400 iterations, 3.3 epochs): does the '
        'seed-to-seed spread shrink with training?',
        dataclasses.replace(SCARCE_TAIL_SPEC, tail_look='distinct'),
        LVIS_TEST_PROPOSALS + CLASSIFIER_PRIOR + schedule_options(2400)),
)}

#: the design the held-out methods run on; ``None`` while the search has not passed calibration
FROZEN_DESIGN = None
#: the design ``tools/benchmark.py`` uses by default
DEFAULT_DESIGN = FROZEN_DESIGN or 'issue10'
