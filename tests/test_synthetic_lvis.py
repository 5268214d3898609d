"""The built-in synthetic long-tailed LVIS-format dataset."""
import hashlib
import json

import numpy as np
import pytest
from lvis import LVIS

from mmdet_droploss.categories import frequency_group, load_categories
from mmdet_droploss.datasets import SyntheticLVISSpec, category_names, generate_synthetic_lvis

SMALL = SyntheticLVISSpec(num_train_images=40, num_val_images=12,
                          train_image_counts=(30, 14, 12, 6, 2, 1), image_size=96)


@pytest.fixture(scope='module')
def small_set(tmp_path_factory):
    return generate_synthetic_lvis(str(tmp_path_factory.mktemp('synth')), SMALL)


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_counts_and_frequency_groups_follow_lvis_rules(small_set):
    train = _load(small_set['train_ann'])
    images_per_cat = {}
    for ann in train['annotations']:
        images_per_cat.setdefault(ann['category_id'], set()).add(ann['image_id'])
    for cat in train['categories']:
        counted = len(images_per_cat.get(cat['id'], ()))
        assert cat['image_count'] == counted
        assert cat['frequency'] == frequency_group(counted)
        assert cat['instance_count'] == sum(a['category_id'] == cat['id']
                                            for a in train['annotations'])
    # the requested long tail survives placement
    assert [c['image_count'] for c in train['categories']] == list(SMALL.train_image_counts)
    assert [c['frequency'] for c in train['categories']] == ['c', 'c', 'c', 'r', 'r', 'r']
    assert [c['name'] for c in train['categories']] == list(category_names(6))


def test_annotations_are_valid_lvis(small_set):
    for key in ('train_ann', 'val_ann'):
        api = LVIS(small_set[key])  # the official loader accepts it
        data = _load(small_set[key])
        ids = {c['id'] for c in data['categories']}
        for img in data['images']:
            assert set(img['neg_category_ids']) <= ids
            assert img['not_exhaustive_category_ids'] == []
            present = {a['category_id'] for a in api.img_ann_map[img['id']]}
            assert not present & set(img['neg_category_ids'])
        for ann in data['annotations']:
            poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
            x, y, w, h = ann['bbox']
            assert poly[:, 0].min() == pytest.approx(x, abs=0.01)
            assert poly[:, 1].max() == pytest.approx(y + h, abs=0.02)
            assert 0 <= x and x + w <= SMALL.image_size and 0 < ann['area'] <= w * h + 0.01
    val = _load(small_set['val_ann'])
    val_images_per_cat = {c: {a['image_id'] for a in val['annotations'] if a['category_id'] == c}
                          for c in range(1, 7)}
    # every category, rare ones included, can be evaluated
    assert min(len(v) for v in val_images_per_cat.values()) >= SMALL.min_val_images_per_class


def test_pixels_show_the_category_colour(small_set):
    import cv2
    from mmdet_droploss.datasets.synthetic_lvis import COLOURS
    train = _load(small_set['train_ann'])
    ann = train['annotations'][0]
    image = cv2.imread(small_set['train_images'] + f"{ann['image_id']:08d}.png")
    x, y, w, h = ann['bbox']
    centre = image[int(y + h / 2), int(x + w / 2)]
    colour = category_names(6)[ann['category_id'] - 1].split('_')[0]
    assert tuple(int(v) for v in centre) == COLOURS[colour]


def test_generation_is_deterministic_and_loss_metadata_reads_it(tmp_path, small_set):
    again = generate_synthetic_lvis(str(tmp_path / 'again'), SMALL)

    def digest(paths):
        files = [paths['train_ann'], paths['val_ann'], paths['train_images'] + '00000001.png']
        return [hashlib.sha256(open(f, 'rb').read()).hexdigest() for f in files]

    assert digest(again) == digest(small_set)
    info = load_categories(small_set['train_ann'])
    assert info.frequency == ('c', 'c', 'c', 'r', 'r', 'r')
    assert info.tail_mask().all()


def test_bad_specs_are_refused():
    with pytest.raises(ValueError, match='raise num_train_images'):
        SyntheticLVISSpec(num_train_images=10, train_image_counts=(20, 1))
    with pytest.raises(ValueError, match='categories'):
        SyntheticLVISSpec(train_image_counts=tuple(range(30, 0, -1)))
