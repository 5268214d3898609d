"""Category frequency metadata: which classes are "tail" for EQL, BEQL and DropLoss.

A :class:`CategoryInfo` holds, in class-index order (the order of the classifier's outputs,
i.e. categories sorted by id), each category's LVIS frequency group and the number of training
images that contain it. It comes from one of three sources, see :func:`load_categories`:

* a built-in name, ``'lvis_v0.5'`` or ``'lvis_v1'`` (the LVIS train-set metadata ships with
  the package);
* a *frequency file*, the JSON format of the built-in files::

      {"num_train_images_with_annotations": 56740,
       "categories": [{"id": 1, "name": "...", "frequency": "r", "image_count": 3}, ...]}

  (``frequency`` may be omitted: it is then derived from ``image_count`` with LVIS's bins);
* an LVIS- or COCO-style annotation file (it has ``"annotations"``): images per category are
  counted from the annotations, see :func:`frequency_file_from_annotations`.
"""
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

BUILTIN_SOURCES = {
    'lvis_v0.5': 'lvis_v0.5.json',
    'lvis_v1': 'lvis_v1.json',
}
FREQUENCY_GROUPS = ('r', 'c', 'f')
# LVIS's definition: rare 1-10 training images, common 11-100, frequent > 100.
_RARE_MAX_IMAGES = 10
_COMMON_MAX_IMAGES = 100


def frequency_group(image_count: int) -> str:
    """LVIS frequency group (``'r'``, ``'c'`` or ``'f'``) of a class seen in ``image_count``
    training images."""
    if image_count <= _RARE_MAX_IMAGES:
        return 'r'
    if image_count <= _COMMON_MAX_IMAGES:
        return 'c'
    return 'f'


@dataclass(frozen=True)
class CategoryInfo:
    """Per-class frequency metadata, in classifier order (categories sorted by id)."""

    ids: Tuple[int, ...]
    names: Tuple[str, ...]
    frequency: Tuple[str, ...]
    image_count: np.ndarray
    num_images: int
    source: str = ''

    @property
    def num_classes(self) -> int:
        return len(self.ids)

    def image_frequency(self) -> np.ndarray:
        """``f_j = image_count_j / N_img``, the quantity EQL thresholds with ``lambda``."""
        return self.image_count / float(self.num_images)

    def tail_mask(self,
                  tail_groups: Sequence[str] = ('r', 'c'),
                  threshold: Optional[float] = None) -> torch.Tensor:
        """Boolean (C,) mask of the tail classes ``T_j`` of the paper's eq. (2).

        Args:
            tail_groups: frequency groups counted as tail (default rare + common).
            threshold: the image-frequency threshold ``lambda`` of the released code
                (``T_j = f_j < lambda``); when given it replaces ``tail_groups``.
        """
        if threshold is not None:
            if not 0 < threshold <= 1:
                raise ValueError(f'tail_threshold (lambda) must be in (0, 1], got {threshold}; '
                                 'it is a fraction of training images, e.g. 0.00177 for LVIS v0.5.')
            return torch.from_numpy(self.image_frequency() < threshold)
        unknown = set(tail_groups) - set(FREQUENCY_GROUPS)
        if isinstance(tail_groups, str) or unknown:
            raise ValueError(f"tail_groups must be a sequence of 'r', 'c', 'f', got {tail_groups!r}, "
                             "e.g. tail_groups=('r', 'c').")
        return torch.tensor([f in tail_groups for f in self.frequency], dtype=torch.bool)

    def group_index(self) -> torch.Tensor:
        """Long (C,) tensor: 0 for rare, 1 for common, 2 for frequent classes."""
        return torch.tensor([FREQUENCY_GROUPS.index(f) for f in self.frequency], dtype=torch.long)


def frequency_file_from_annotations(ann: dict) -> dict:
    """Frequency-file dict of an LVIS/COCO-style annotation dict.

    ``image_count`` of a category is the number of distinct images with at least one of its
    annotations; ``num_train_images_with_annotations`` the number of images with any annotation.
    The ``frequency`` group is taken from the category record when it has one (LVIS files do),
    otherwise derived from the counted ``image_count`` with LVIS's bins.
    """
    for key in ('categories', 'annotations'):
        if key not in ann:
            raise ValueError(f'annotation file has no "{key}" list; expected LVIS/COCO format.')
    pairs = {(a['category_id'], a['image_id']) for a in ann['annotations']}
    counts: Dict[int, int] = {}
    for cat_id, _ in pairs:
        counts[cat_id] = counts.get(cat_id, 0) + 1
    categories = []
    for cat in sorted(ann['categories'], key=lambda c: c['id']):
        count = counts.get(cat['id'], 0)
        categories.append(
            dict(id=cat['id'], name=cat.get('name', str(cat['id'])),
                 frequency=cat.get('frequency') or frequency_group(count), image_count=count))
    unknown = set(counts) - {c['id'] for c in categories}
    if unknown:
        raise ValueError(f'annotations refer to category ids {sorted(unknown)[:10]} that are not in '
                         '"categories".')
    num_images = len({image_id for _, image_id in pairs})
    return dict(num_train_images_with_annotations=num_images, categories=categories)


def _from_frequency_dict(data: dict, source: str) -> CategoryInfo:
    if 'annotations' in data:
        data = frequency_file_from_annotations(data)
    cats = data.get('categories')
    if not isinstance(cats, list) or not cats:
        raise ValueError(f'{source}: no "categories" list. A frequency file looks like '
                         '{"num_train_images_with_annotations": N, "categories": '
                         '[{"id": 1, "name": "...", "frequency": "r", "image_count": 3}, ...]}.')
    try:
        cats = sorted(cats, key=lambda c: c['id'])
        image_count = np.array([int(c['image_count']) for c in cats], dtype=np.int64)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f'{source}: every category needs an integer "id" and "image_count" '
                         f'({err!r}).') from err
    frequency = tuple(c.get('frequency') or frequency_group(int(n))
                      for c, n in zip(cats, image_count))
    bad = sorted({f for f in frequency if f not in FREQUENCY_GROUPS})
    if bad:
        raise ValueError(f"{source}: frequency must be 'r', 'c' or 'f', found {bad}.")
    num_images = data.get('num_train_images_with_annotations')
    if not isinstance(num_images, int) or num_images <= 0:
        raise ValueError(f'{source}: "num_train_images_with_annotations" must be a positive '
                         f'integer, got {num_images!r}.')
    return CategoryInfo(
        ids=tuple(int(c['id']) for c in cats),
        names=tuple(str(c.get('name', c['id'])) for c in cats),
        frequency=frequency,
        image_count=image_count,
        num_images=num_images,
        source=source)


def load_categories(source: str) -> CategoryInfo:
    """Load category metadata from a built-in name or a JSON file (see the module docstring)."""
    if not isinstance(source, str):
        raise TypeError(f'categories must be a built-in name {sorted(BUILTIN_SOURCES)} or a path '
                        f'to a JSON file, got {type(source).__name__}.')
    if source in BUILTIN_SOURCES:
        path = osp.join(osp.dirname(__file__), BUILTIN_SOURCES[source])
    elif osp.splitext(source)[1].lower() == '.json' or osp.sep in source:
        path = osp.expanduser(source)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'category frequency file {source!r} does not exist. Pass a built-in name '
                f'({", ".join(sorted(BUILTIN_SOURCES))}) or create the file with '
                '`python tools/dataset_frequency.py ANNOTATION.json -o FILE.json`.')
    else:
        raise ValueError(f'unknown categories {source!r}: use one of '
                         f'{", ".join(sorted(BUILTIN_SOURCES))} or a path to a .json file.')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'category file {source!r} is not valid JSON: {err}') from err
    if not isinstance(data, dict):
        raise ValueError(f'category file {source!r} must hold a JSON object, '
                         f'got {type(data).__name__}.')
    return _from_frequency_dict(data, source)
