"""Record the gradient the classification loss sends to each class (paper Fig. 1a).

Opt-in from a config, with no cost when absent::

    custom_hooks = [dict(type='GradientStatsHook', interval=50)]

At the start of training the hook attaches a forward hook to the classification loss of every
``BBoxHead`` of the model (one for Faster/Mask R-CNN, three for Cascade R-CNN) whose classifier is
a C-logit sigmoid one: ``EQL``, ``BEQL``, ``DropLoss`` and mmdet's ``CrossEntropyCustomLoss``
(the BCE baseline). Each loss call adds its per-class gradient sums
(:func:`mmdet_droploss.analysis.gradient_sums`) to running totals kept on the device, so a
training step does no host sync. Every ``interval`` iterations, and at the end, the totals are
summed over processes, the per-group background shares are added to the runner's visualizer
(reaching every backend: local ``scalars.json``, TensorBoard, ...) and printed to the log, and
everything is written to
``<work_dir>/<out_file>`` for ``tools/plot_gradient_stats.py``.

The totals cover the iterations since this process started training: a resumed run records
from the resumed iteration on (``start_iter`` in the saved file).
"""
from __future__ import annotations

import json
import os.path as osp
from typing import Dict, List, Optional

from mmengine.dist import all_reduce, is_distributed, is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from torch import Tensor, nn

from mmdet.models.roi_heads.bbox_heads import BBoxHead
from mmdet.registry import HOOKS

from ..analysis.gradient_stats import GROUPS, KINDS, PARTS, gradient_sums, group_summary
from ..categories import load_categories
from .category_check import leaf_datasets


def _uses_c_sigmoid_logits(loss: nn.Module) -> bool:
    """Our losses and CrossEntropyCustomLoss(use_sigmoid=True) give the head C sigmoid logits;
    EQLv2 gives C + 1 (an objectness channel), which this measurement does not cover."""
    if not (getattr(loss, 'custom_cls_channels', False) and getattr(loss, 'use_sigmoid', True)):
        return False
    num_classes = getattr(loss, 'num_classes', None)
    return not isinstance(num_classes, int) or loss.get_cls_channels(num_classes) == num_classes


def share_scalars(summaries: Dict[str, dict]) -> Dict[str, float]:
    """The logged scalars: ``grad_bg_share_{r,c,f}`` (with the loss weights) and
    ``grad_bg_share_{r,c,f}_bce`` (without), per head; the first head unsuffixed, Cascade
    R-CNN's later stages with ``_stage2``, ``_stage3``. Groups without any discouraging gradient
    (NaN share) are left out."""
    scalars = {}
    for stage, summary in enumerate(summaries.values()):
        suffix = f'_stage{stage + 1}' if stage else ''
        for kind in KINDS:
            for group in GROUPS:
                share = summary[kind][group]['background_share']
                if share == share:  # not NaN
                    key = f'grad_bg_share_{group}' + ('' if kind == 'weighted' else '_bce')
                    scalars[key + suffix] = share
    return scalars


@HOOKS.register_module()
class GradientStatsHook(Hook):
    """Per-class and per-frequency-group gradient statistics of the classification loss.

    Args:
        interval: log and save every ``interval`` training iterations.
        categories: category metadata for the frequency groups (``'lvis_v0.5'``, ``'lvis_v1'``,
            a frequency or annotation file). Default: the long-tail loss's own metadata, else the
            training set's annotation file.
        out_file: file name under the work dir.
    """

    priority = 'LOW'

    def __init__(self, interval: int = 50, categories: Optional[str] = None,
                 out_file: str = 'gradient_stats.json') -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError('GradientStatsHook: interval must be a positive int, got '
                             f'{interval!r}.')
        self.interval = interval
        self.categories = categories
        self.out_file = out_file
        self._sums: Dict[str, Tensor] = {}
        self._calls: Dict[str, int] = {}
        self._handles: List = []
        self._history: List[dict] = []
        self._group_index: Optional[Tensor] = None
        self._names: Optional[List[str]] = None
        self._start_iter = 0

    # -- attaching -------------------------------------------------------------------------
    def before_train(self, runner) -> None:
        self._start_iter = runner.iter
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for name, head in model.named_modules():
            if not isinstance(head, BBoxHead):
                continue
            loss = head.loss_cls
            if not _uses_c_sigmoid_logits(loss):
                print_log(f'GradientStatsHook: {name} uses {type(loss).__name__}, which does not '
                          'give the head C sigmoid logits; only C-logit sigmoid heads are '
                          'measured.',
                          logger='current')
                continue
            if getattr(loss, 'base_loss', 'bce') != 'bce':  # the sums assume BCE's gradient
                print_log(f'GradientStatsHook: {name} uses base_loss={loss.base_loss!r}; only the '
                          'BCE base loss is measured.', logger='current')
                continue
            if getattr(loss, 'activation', 'sigmoid') != 'sigmoid':  # ... and the sigmoid's
                print_log(f'GradientStatsHook: {name} uses activation={loss.activation!r}; only '
                          'the sigmoid is measured.', logger='current')
                continue
            if hasattr(loss, 'keep_weights'):
                loss.keep_weights = True
            self._handles.append(loss.register_forward_hook(self._recorder(name),
                                                            with_kwargs=True))
        if not self._handles:
            print_log('GradientStatsHook: no sigmoid classification loss found; nothing to '
                      'record.', logger='current')
            return
        self._group_index, self._names = self._frequency_groups(runner, model)

    def _frequency_groups(self, runner, model: nn.Module):
        if self.categories is not None:
            info = load_categories(self.categories)
            return info.group_index(), list(info.names)
        for module in model.modules():
            if hasattr(module, 'group_index') and hasattr(module, 'categories'):
                info = load_categories(module.categories)
                return info.group_index(), list(info.names)
        dataset = next(leaf_datasets(runner.train_dataloader.dataset))
        info = load_categories(dataset.ann_file)
        return info.group_index(), list(info.names)

    def _recorder(self, name: str):
        def record(module, args, kwargs, output) -> None:
            cls_score, labels = args[0], args[1]
            label_weights = args[2] if len(args) > 2 else kwargs.get('label_weights')
            avg_factor = args[3] if len(args) > 3 else kwargs.get('avg_factor')
            if cls_score.dim() != 2 or cls_score.numel() == 0:
                return
            weights = getattr(module, 'last_weights', None)
            sums = gradient_sums(cls_score, labels, weights, label_weights, avg_factor,
                                 float(getattr(module, 'loss_weight', 1.0)))
            if name in self._sums:
                self._sums[name] += sums
                self._calls[name] += 1
            else:
                self._sums[name] = sums.clone()
                self._calls[name] = 1
        return record

    # -- reporting -------------------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._handles and self.every_n_train_iters(runner, self.interval):
            self._report(runner, done=runner.iter + 1)

    def after_train(self, runner) -> None:
        if not self._handles:
            return
        if runner.iter % self.interval != 0:  # runner.iter: iterations done
            self._report(runner, done=runner.iter)
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _report(self, runner, done: int) -> None:
        totals = {}
        for name, sums in sorted(self._sums.items()):
            total = sums.clone()
            if is_distributed():
                all_reduce(total, op='sum')
            totals[name] = total
        if not totals:
            return
        summaries = {name: group_summary(total, self._group_index)
                     for name, total in totals.items()}
        scalars = share_scalars(summaries)
        # straight to every visualizer backend (local scalars.json, TensorBoard, ...) at this
        # step, so the final report is recorded too (LoggerHook does not log after training)
        runner.visualizer.add_scalars(scalars, step=done)
        print_log(f'GradientStatsHook (iter {done}): ' +
                  ', '.join(f'{k}: {v:.4f}' for k, v in scalars.items()), logger='current')
        self._history.append(dict(iter=done, summary=summaries))
        if is_main_process():
            self._save(runner, totals, summaries, done)

    def _save(self, runner, totals: Dict[str, Tensor], summaries: dict, done: int) -> None:
        record = dict(
            iter=done,
            start_iter=self._start_iter,
            interval=self.interval,
            groups=list(GROUPS),
            parts=list(PARTS),
            kinds=list(KINDS),
            class_names=self._names,
            group_index=self._group_index.tolist(),
            heads={name: dict(
                calls=self._calls[name],
                summary=summaries[name],
                per_class={kind: {part: totals[name][k, p].tolist()
                                  for p, part in enumerate(PARTS)}
                           for k, kind in enumerate(KINDS)})
                for name in totals},
            history=self._history)
        path = osp.join(runner.work_dir, self.out_file)
        with open(path, 'w') as f:
            json.dump(record, f)
