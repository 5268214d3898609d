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
from ..datasets.lvis_regime_vocabulary import (category_attributes, category_name,
                                                long_tail_counts)

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

    @property
    def class_names(self) -> Tuple[str, ...]:
        """The categories the design's data set has, in id order."""
        return class_names(self.spec)

    def train_options(self, uses_rfs: bool) -> Tuple[str, ...]:
        """Overrides for a training run (``uses_rfs``: the config wraps its training set in
        ``ClassBalancedDataset``)."""
        train_set = 'train_dataloader.dataset' + ('.dataset' if uses_rfs else '')
        rfs = (f'train_dataloader.dataset.oversample_thr={self.rfs_threshold:.6g}',) \
            if uses_rfs else ()
        return self.cfg_options + self._vocabulary_options(train_set) + rfs

    def test_options(self) -> Tuple[str, ...]:
        """Overrides for testing or analysing a run's model."""
        return self.cfg_options + self._vocabulary_options(None)

    def _vocabulary_options(self, train_set) -> Tuple[str, ...]:
        """The benchmark configs list the default set's 60 categories; a design with other
        categories sets the number of classes of every head and loss and the datasets' class
        names to its own (the names label per-class output; the number sizes the heads)."""
        names = self.class_names
        if names == CONFIG_CLASS_NAMES:
            return ()
        listed = '[' + ','.join(names) + ']'
        datasets = ([train_set] if train_set else []) + ['val_dataloader.dataset',
                                                        'test_dataloader.dataset']
        return tuple(f'{key}.num_classes={len(names)}' for key in CLASSIFIER_KEYS) + \
            tuple(f'{d}.metainfo.classes={listed}' for d in datasets)


def class_names(spec: LVISRegimeSpec) -> Tuple[str, ...]:
    """The category names the generator gives ``spec``'s set, in id order."""
    return tuple(category_name(a) for a in category_attributes(
        spec.train_image_counts, spec.seed, spec.tail_look, spec.tail_fills))


#: the categories ``configs/benchmark/_base_/lvis_regime.py`` lists: the default set's
CONFIG_CLASS_NAMES = class_names(LVISRegimeSpec())
#: every module of the benchmark model whose size is the number of categories
CLASSIFIER_KEYS = ('model.roi_head.bbox_head', 'model.roi_head.bbox_head.loss_cls',
                   'model.roi_head.mask_head')


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


#: LVIS's per-image cap: 300 detections per image (mmdet's LVIS configs, the LVIS API's max_dets)
#: for the 1203 categories of LVIS v1
LVIS_DETECTIONS_PER_IMAGE, LVIS_V1_CATEGORIES = 300, 1203


def vocabulary_scaled_cap(num_classes: int) -> Tuple[str, ...]:
    """LVIS's per-image cap in proportion to the vocabulary (300 of 1203 categories' worth of
    detections): the candidates that compete for an image's slots grow with the number of
    categories, so a smaller vocabulary under LVIS's 300 would keep every candidate and leave
    nothing to compete for (Dave et al. 2021: LVIS AP rewards re-ranking scores across
    categories because of that cap)."""
    cap = round(LVIS_DETECTIONS_PER_IMAGE * num_classes / LVIS_V1_CATEGORIES)
    return (f'model.test_cfg.rcnn.max_per_img={cap}',)


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

# 150 categories, 60 rare / 60 common / 30 frequent, so that APr and APc average over 60 classes
# each (the 22 rare classes of the 60-category set let one class learned or missed move APr by
# 2-3 points); 1440 training images, so that the 1200-iteration schedule is 3.3 epochs; the
# frequent bin at the default counts, which keeps about as many frequent categories per image as
# SCARCE_TAIL_SPEC; three tail fills make room for a distinct tail of 120.
VOCAB150_SPEC = dataclasses.replace(
    SCARCE_TAIL_SPEC, train_image_counts=long_tail_counts(60, 60, 30), num_train_images=1440,
    min_val_images_rare=8, tail_look='distinct', tail_fills=('striped', 'checkered', 'banded'))

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
    BenchmarkDesign(
        'vocab150',
        '150 categories (60 rare, 60 common, 30 frequent; three tail fills, a distinct tail) '
        'in 1440 training images (3.3 epochs of the 1200-iteration schedule), rare classes in '
        '>= 8 of 360 validation images; test proposals and classifier prior as '
        'scarce4x_distinct_prior',
        VOCAB150_SPEC, LVIS_TEST_PROPOSALS + CLASSIFIER_PRIOR),
    BenchmarkDesign(
        'vocab150_cap',
        "vocab150 with LVIS's per-image cap in proportion to the vocabulary: the 37 best "
        'detections per image (300 x 150 / 1203) instead of 300',
        VOCAB150_SPEC,
        LVIS_TEST_PROPOSALS + CLASSIFIER_PRIOR +
        vocabulary_scaled_cap(len(VOCAB150_SPEC.train_image_counts))),
)}

#: the design the held-out methods run on; ``None`` while the search has not passed calibration
FROZEN_DESIGN = None
#: the design ``tools/benchmark.py`` uses by default: the frozen one, else the search's best so far
#: (``vocab150``: LVIS's regime, every precondition, a seed spread of tenths of a point; it fails
#: calibration on BCE < EQL, see docs/benchmark.md)
DEFAULT_DESIGN = FROZEN_DESIGN or 'vocab150'
