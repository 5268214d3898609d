"""One simulated run: a method trained and evaluated on one seed's data, resumable (a
finished run's ``result.json`` is read back instead of training again)."""
from __future__ import annotations

import json
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import numpy as np
import torch

from ..analysis.gradient_stats import gradient_sums, group_summary
from ..losses.gradient_statistics import RATIO_EPS
from .evaluation import (background_score_means, class_scores, detections,
                         evaluate_detections)
from .features import FeatureModel
from .images import ImageSet, draw_images
from .metadata import LVISCounts, load_counts
from .methods import Method
from .sampler import RoISampler
from .training import build_head, total_steps, train
from .validation import (ValidationSet, draw_validation, proposal_features,
                         write_ground_truth)

RESULT_FILE = 'result.json'


@dataclass
class SimulatedData:
    """One seed's data: categories, training images, features, validation set."""

    counts: LVISCounts
    train_images: ImageSet
    features: FeatureModel
    val: ValidationSet


def simulate_data(spec, seed: int) -> SimulatedData:
    """Deterministic in (spec, seed): the data set of ``spec.data_seed`` if the spec fixes
    one, else of ``seed``."""
    counts = load_counts(spec.version)
    rng = np.random.default_rng([seed if spec.data_seed is None else spec.data_seed, 29])
    train_images = draw_images(counts.image_count, counts.instance_count,
                               counts.num_train_images, spec, rng)
    features = FeatureModel(counts.num_classes, spec, rng)
    val = draw_validation(counts, spec, rng)
    return SimulatedData(counts, train_images, features, val)


def ground_truth_file(data: SimulatedData, data_dir: str) -> str:
    """The validation set's LVIS annotation file, written once per data directory."""
    path = osp.join(data_dir, 'val.json')
    if not osp.isfile(path):
        os.makedirs(data_dir, exist_ok=True)
        write_ground_truth(data.val, data.counts, path + '.tmp')
        os.replace(path + '.tmp', path)
    return path


class GradientRecorder:
    """Per-class gradient sums of the unweighted sigmoid BCE (paper Fig. 1a, EQLv2's ratio),
    every ``interval`` steps, for heads with C sigmoid logits."""

    def __init__(self, num_classes: int, interval: int = 10) -> None:
        self.num_classes, self.interval = num_classes, interval
        self.sums = torch.zeros(2, 3, num_classes, dtype=torch.float64)

    def __call__(self, step, cls_score, batch, avg_factor) -> None:
        if step % self.interval == 0 and cls_score.shape[1] == self.num_classes:
            self.sums += gradient_sums(cls_score, batch.labels, None, batch.label_weights,
                                       avg_factor).double()

    def summary(self, group_index: np.ndarray) -> Optional[dict]:
        if not self.sums.any():
            return None
        return group_summary(self.sums, torch.from_numpy(group_index))


class LossStatisticsTrace:
    """What a gradient-guided loss (EQLv2, EFL: ``pos_grad`` / ``neg_grad`` buffers) has
    accumulated, per frequency group, at ``points`` evenly spaced steps: the median ratio
    ``P / M`` and the mean negative weight it gives (``class_weights``), to see how its
    weights evolve through a run."""

    def __init__(self, loss: torch.nn.Module, group_index: np.ndarray, total_steps: int,
                 points: int = 24) -> None:
        self.loss, self.group_index = loss, group_index
        self.interval = max(1, total_steps // points)
        self.trace: list = []

    def __call__(self, step, cls_score, batch, avg_factor) -> None:
        if step % self.interval or not hasattr(self.loss, 'pos_grad'):
            return
        ratio = (self.loss.pos_grad / (self.loss.neg_grad + RATIO_EPS)).numpy()  # the loss's rule
        weights = getattr(self.loss, 'class_weights', None)
        neg = weights()[1][:len(ratio)].numpy() if weights is not None else None
        point = dict(step=step)
        for g, group in enumerate(('rare', 'common', 'frequent')):
            mask = self.group_index == g
            point[group] = dict(ratio_median=round(float(np.median(ratio[mask])), 4))
            if neg is not None:
                point[group]['negative_weight_mean'] = round(float(neg[mask].mean()), 4)
        self.trace.append(point)


def run_simulation(spec, method: Method, seed: int, work_dir: str, data_dir: str,
                   data: Optional[SimulatedData] = None,
                   log: Callable[[str], None] = print, commit: str = '') -> Dict:
    """Train and evaluate ``method`` on ``seed``'s data; the result (metrics, Fig. 1a/1b
    statistics, timing, and ``commit``: the code it ran, for the held-out protocol) is written
    to ``work_dir/result.json`` and returned."""
    path = osp.join(work_dir, RESULT_FILE)
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    start = time.perf_counter()
    data = data or simulate_data(spec, seed)
    ann_file = ground_truth_file(data, data_dir)
    torch.manual_seed(seed)  # the head's initialisation
    loss_cls, init_cfg = method.loss_and_init()
    head = build_head(loss_cls, init_cfg, data.counts.num_classes, spec.feature_dim,
                      spec.hidden_fcs, spec.hidden_width)
    gen = torch.Generator().manual_seed(seed)
    sampler = RoISampler(data.train_images, data.features, data.counts.image_count, spec, gen)
    recorder = GradientRecorder(data.counts.num_classes)
    rfs = spec.rfs_threshold if method.rfs else None
    trace = LossStatisticsTrace(head.loss_cls, data.counts.group_index,
                                total_steps(data.train_images, spec, rfs))

    def on_step(*step_state) -> None:
        recorder(*step_state)
        trace(*step_state)

    training = train(head, sampler, data.train_images, spec, rfs, gen, on_step, log)
    eval_start = time.perf_counter()
    scores = class_scores(head, proposal_features(data.val, data.features,
                                                  torch.Generator().manual_seed(seed + 1)))
    # AP-Fixed reads more than the 300 a standard evaluation keeps of an image
    per_image = spec.dets_per_val_image if spec.fixed_ap else spec.max_per_img
    image, proposal, label, score = detections(scores, data.val, spec.score_thr, per_image)
    metrics = evaluate_detections(data.val, image, proposal, label, score, ann_file,
                                  data.counts.names, spec.fixed_ap)
    result = dict(method=method.name, label=method.label, seed=seed, metrics=metrics,
                  background_scores=background_score_means(scores, data.val,
                                                           data.counts.group_index),
                  gradients=recorder.summary(data.counts.group_index),
                  loss_statistics=trace.trace or None,
                  training=training, eval_seconds=round(time.perf_counter() - eval_start, 1),
                  seconds=round(time.perf_counter() - start, 1), spec=spec.as_dict(),
                  commit=commit or None)
    os.makedirs(work_dir, exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        json.dump(result, f, indent=1)
    os.replace(path + '.tmp', path)
    return result
