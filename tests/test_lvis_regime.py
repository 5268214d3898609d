"""The benchmark's LVIS-regime data set: LVIS's frequency bins and federated fields."""
import hashlib
import json
import re

import numpy as np
import pytest
from lvis import LVIS
from mmengine.config import Config

from conftest import REPO_ROOT
from mmdet_droploss.categories import frequency_group, load_categories
from mmdet_droploss.datasets.lvis_regime import (LVISRegimeSpec, category_attributes,
                                                 category_name, generate_lvis_regime,
                                                 long_tail_counts)

SMALL = LVISRegimeSpec(train_image_counts=long_tail_counts(4, 5, 3, max_count=130),
                       num_train_images=140, num_val_images=30, image_size=112,
                       min_val_images_rare=5)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    return generate_lvis_regime(str(tmp_path_factory.mktemp('regime')), SMALL)


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_default_vocabulary_has_lvis_v05_proportions():
    counts = np.array(LVISRegimeSpec().train_image_counts)
    groups = [frequency_group(int(c)) for c in counts]
    num = {g: groups.count(g) for g in 'rcf'}
    assert len(counts) >= 60
    # LVIS v0.5: 454 rare, 461 common, 315 frequent of 1230 categories
    for g, lvis in (('r', 454), ('c', 461), ('f', 315)):
        assert abs(num[g] - len(counts) * lvis / 1230) < 1, (g, num)
    assert list(counts) == sorted(counts, reverse=True)
    assert counts.min() == 1 and counts.max() <= LVISRegimeSpec().num_train_images


def test_annotated_image_counts_land_in_their_bins(small_set):
    train = _load(small_set['train_ann'])
    images_per_cat = {}
    for ann in train['annotations']:
        images_per_cat.setdefault(ann['category_id'], set()).add(ann['image_id'])
    cats = train['categories']
    assert [c['image_count'] for c in cats] == list(SMALL.train_image_counts)
    for cat in cats:
        assert cat['image_count'] == len(images_per_cat[cat['id']])
        assert cat['frequency'] == frequency_group(cat['image_count'])
    assert [c['frequency'] for c in cats] == ['f'] * 3 + ['c'] * 5 + ['r'] * 4
    info = load_categories(small_set['train_ann'])
    assert info.tail_mask().tolist() == [False] * 3 + [True] * 9


def test_federated_fields_are_valid_lvis(small_set):
    for key in ('train_ann', 'val_ann'):
        api = LVIS(small_set[key])  # the official loader accepts it
        data = _load(small_set[key])
        num_classes = len(data['categories'])
        declared_not_exhaustive = 0
        for img in data['images']:
            present = {a['category_id'] for a in api.img_ann_map[img['id']]}
            negatives = set(img['neg_category_ids'])
            assert negatives and negatives <= set(range(1, num_classes + 1))
            assert not present & negatives, 'a negative category is annotated in its image'
            # LVIS: not-exhaustive categories are annotated in the image, just not every instance
            assert set(img['not_exhaustive_category_ids']) <= present
            declared_not_exhaustive += len(img['not_exhaustive_category_ids'])
        assert declared_not_exhaustive > 0
        per_image = len(data['annotations']) / len(data['images'])
        assert 6 <= per_image <= 14, per_image  # crowded, as LVIS (about 11 per image)


def test_validation_has_every_rare_class(small_set):
    val = _load(small_set['val_ann'])
    counts = SMALL.train_image_counts
    images = {c: {a['image_id'] for a in val['annotations'] if a['category_id'] == c}
              for c in range(1, len(counts) + 1)}
    for c, n in enumerate(counts, 1):
        if n <= 10:
            assert len(images[c]) >= SMALL.min_val_images_rare


def test_unannotated_objects_follow_lvis_federated_rules(small_set):
    """Tail objects present without annotation (their category unverified in that image: not
    annotated there, not negative), not-exhaustive frequent instances, clutter of no category."""
    import cv2
    train = _load(small_set['train_ann'])
    unlabelled = _load(small_set['train_unlabelled'])
    images = {img['id']: img for img in train['images']}
    annotated = {}
    for ann in train['annotations']:
        annotated.setdefault(ann['image_id'], set()).add(ann['category_id'])
    counts = np.array(SMALL.train_image_counts)
    hidden_images = {}
    for obj in unlabelled:
        img = images[obj['image_id']]
        if obj['reason'] == 'clutter':
            assert obj['category_id'] is None
            continue
        cat = obj['category_id']
        assert cat not in img['neg_category_ids']
        if obj['reason'] == 'unverified':
            assert counts[cat - 1] <= 100, 'only tail categories go unverified'
            assert cat not in annotated.get(obj['image_id'], set())
            hidden_images.setdefault(cat, set()).add(obj['image_id'])
        else:
            assert obj['reason'] == 'not_exhaustive'
            assert cat in img['not_exhaustive_category_ids'] and cat in annotated[obj['image_id']]
    # every tail category is unannotated in unannotated_tail_ratio x its annotated images (or in
    # every other image), but for the few objects a crowded image has no room for
    for c, n in enumerate(counts, 1):
        if n <= 100:
            expected = min(round(n * SMALL.unannotated_tail_ratio), SMALL.num_train_images - n)
            assert 0.9 * expected <= len(hidden_images.get(c, ())) <= expected
    # and it is really drawn: the box centre of a solid unverified object has its colour
    from mmdet_droploss.datasets.lvis_regime import HUES
    attrs = category_attributes(counts, SMALL.seed)
    light_range = (1 - SMALL.illumination_jitter) * 0.9, (1 + SMALL.illumination_jitter) * 1.1
    checked = 0
    for obj in unlabelled:
        cat = obj['category_id']
        if obj['reason'] != 'unverified':
            continue
        image = cv2.imread(small_set['train_images'] + f"{obj['image_id']:08d}.png").astype(float)
        x, y, w, h = obj['bbox']
        pixel = image[int(y + h / 2), int(x + w / 2)]
        shape, hue, shade, _ = attrs[cat - 1]
        base = np.array(HUES[hue][shade], float)
        ratio = pixel[base > 60] / base[base > 60]
        if attrs[cat - 1][3] == 'striped' and ratio.max() < 0.7:  # the darker stripe
            ratio = ratio / 0.45
        assert ((ratio > light_range[0] - 0.1) & (ratio < light_range[1] + 0.1)).all(), (pixel, base)
        checked += 1
    assert checked > 0


def test_generation_is_deterministic(tmp_path, small_set):
    again = generate_lvis_regime(str(tmp_path / 'again'), SMALL)

    def digest(paths):
        files = [paths['train_ann'], paths['val_ann'], paths['train_images'] + '00000001.png',
                 paths['val_images'] + f'{SMALL.num_train_images + 1:08d}.png']
        return [hashlib.sha256(open(f, 'rb').read()).hexdigest() for f in files]

    assert digest(again) == digest(small_set)


def test_benchmark_config_lists_the_generated_categories():
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/benchmark/mask_rcnn_tiny_bce_bench.py'))
    spec = LVISRegimeSpec()
    names = tuple(category_name(a) for a in category_attributes(spec.train_image_counts,
                                                                spec.seed))
    assert cfg.train_dataloader.dataset.metainfo['classes'] == names
    assert cfg.model.roi_head.bbox_head.num_classes == len(names)
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r'(dark|light)_[a-z]+_(solid|striped)_[a-z]+', n) for n in names)


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match='raise num_train_images'):
        LVISRegimeSpec(num_train_images=50, train_image_counts=(120, 3))
