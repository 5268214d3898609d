"""Stop a run whose dataset categories do not match the model's classifier and loss.

A long-tail loss is only right if label ``k`` of the dataset is category ``k`` of the loss's
frequency metadata. mmdet maps an annotation file's category ids to labels in sorted-id order
(``dataset.cat_ids``); the loss reads the same order from its ``categories`` source. A mismatch
(LVIS v1 annotations with a v0.5 config, a custom subset, a wrong ``metainfo``) otherwise trains
silently with the wrong tail set, or fails much later inside a loss with an index error.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mmdet.registry import HOOKS


class CategoryMismatchError(ValueError):
    """The dataset's categories disagree with the model's heads or losses."""


def leaf_datasets(dataset) -> Iterator[BaseDataset]:
    """The datasets under wrappers (``ClassBalancedDataset``, ``RepeatDataset``, ``ConcatDataset``)."""
    if hasattr(dataset, 'datasets'):
        for inner in dataset.datasets:
            yield from leaf_datasets(inner)
    elif hasattr(dataset, 'dataset'):
        yield from leaf_datasets(dataset.dataset)
    else:
        yield dataset


def _classifier_modules(model: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """Heads and losses that declare a number of classes (bbox/mask heads, their losses).

    Region-proposal heads are skipped: their one "class" is objectness.
    """
    for name, module in model.named_modules():
        num_classes = getattr(module, 'num_classes', None)
        if not isinstance(num_classes, int) or getattr(module, 'class_agnostic', False):
            continue
        if 'RPN' in type(module).__name__ or name.split('.')[0] == 'rpn_head':
            continue
        yield name, module


def category_problems(dataset, model: nn.Module, split: str) -> List[str]:
    """Everything inconsistent between one dataset and the model, as readable sentences."""
    problems = []
    classes: Sequence[str] = dataset.metainfo.get('classes') or ()
    cat_ids: Optional[Sequence[int]] = getattr(dataset, 'cat_ids', None)
    ann_file = getattr(dataset, 'ann_file', '?')
    num_dataset_classes = len(cat_ids) if cat_ids is not None else len(classes)
    if cat_ids is not None and classes and len(cat_ids) != len(classes):
        problems.append(
            f'{split} annotation file {ann_file} has {len(cat_ids)} categories but the dataset '
            f'metainfo lists {len(classes)} class names: set metainfo=dict(classes=...) to the '
            'annotation file\'s categories, in id order.')
    for name, module in _classifier_modules(model):
        if module.num_classes != num_dataset_classes:
            problems.append(
                f'model.{name} ({type(module).__name__}) has num_classes={module.num_classes} '
                f'but the {split} dataset ({ann_file}) has {num_dataset_classes} categories: '
                'make num_classes of every head and loss equal to the dataset\'s.')
        loss_ids = getattr(module, 'category_ids', None)
        if (loss_ids is not None and cat_ids is not None and len(loss_ids) == len(cat_ids)
                and tuple(loss_ids) != tuple(int(i) for i in cat_ids)):
            problems.append(
                f'model.{name} ({type(module).__name__}, categories='
                f'{getattr(module, "categories", "?")!r}) describes category ids that differ '
                f'from the {split} annotation file {ann_file}: point the loss\'s categories at '
                'the metadata of this dataset (or at its annotation file).')
    return problems


@HOOKS.register_module()
class CheckCategoriesHook(Hook):
    """Check, before training and evaluation start, that data and model agree on categories.

    Compares each (unwrapped) dataset's categories with ``num_classes`` of every bbox/mask head
    and loss, and with the category ids of the long-tail losses. Raises
    :class:`CategoryMismatchError` listing every problem. Costs nothing after the first check.
    """

    priority = 'VERY_HIGH'

    def _check(self, runner, dataloader, split: str) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        problems = []
        for dataset in leaf_datasets(dataloader.dataset):
            problems += category_problems(dataset, model, split)
        if problems:
            raise CategoryMismatchError('Dataset and model categories do not match:\n  - ' +
                                        '\n  - '.join(problems))

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader, 'test')
