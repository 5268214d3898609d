"""Shipped LVIS metadata, tail selection, and frequency files computed from annotations."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmdet_droploss.categories import frequency_file_from_annotations, load_categories

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize('name, num, rcf, images, lam', [
    ('lvis_v0.5', 1230, (454, 461, 315), 56740, 0.00177),
    ('lvis_v1', 1203, (337, 461, 405), 99388, 0.0010062),
])
def test_builtin_metadata(name, num, rcf, images, lam):
    info = load_categories(name)
    assert info.num_classes == num and info.num_images == images
    assert list(info.ids) == list(range(1, num + 1))
    assert tuple(info.frequency.count(g) for g in 'rcf') == rcf
    tail = info.tail_mask()
    assert int(tail.sum()) == rcf[0] + rcf[1]
    # The released code's lambda selects exactly rare + common (METHOD.md).
    assert info.tail_mask(threshold=lam).tolist() == tail.tolist()
    assert info.group_index().bincount().tolist() == list(rcf)
    assert info.tail_mask(('r',)).sum().item() == rcf[0]


def test_released_v1_yaml_lambda_is_too_large():
    # The released v1 YAML kept v0.5's lambda: 78 frequent classes become "tail".
    info = load_categories('lvis_v1')
    extra = info.tail_mask(threshold=0.00177) & ~info.tail_mask()
    assert int(extra.sum()) == 78


def coco_style():
    return dict(
        images=[dict(id=i) for i in range(1, 7)],
        categories=[dict(id=7, name='cat'), dict(id=3, name='dog'), dict(id=9, name='never')],
        annotations=[
            dict(id=1, image_id=1, category_id=3), dict(id=2, image_id=1, category_id=3),
            dict(id=3, image_id=2, category_id=3), dict(id=4, image_id=2, category_id=7),
            dict(id=5, image_id=5, category_id=7),
        ])


def test_frequency_from_coco_annotations_counts_images():
    freq = frequency_file_from_annotations(coco_style())
    assert freq['num_train_images_with_annotations'] == 3  # images 1, 2, 5
    assert [(c['id'], c['image_count'], c['frequency']) for c in freq['categories']] == [
        (3, 2, 'r'), (7, 2, 'r'), (9, 0, 'r')]


def test_lvis_annotation_file_keeps_its_frequency_and_is_accepted_by_losses(tmp_path):
    ann = coco_style()
    for cat, f in zip(ann['categories'], 'fcr'):
        cat['frequency'] = f
    path = tmp_path / 'lvis_train.json'
    path.write_text(json.dumps(ann))
    info = load_categories(str(path))
    assert info.ids == (3, 7, 9) and info.frequency == ('c', 'f', 'r')
    assert info.image_count.tolist() == [2, 2, 0]
    assert info.tail_mask().tolist() == [True, False, True]


def test_annotation_with_unknown_category_is_rejected():
    ann = coco_style()
    ann['annotations'].append(dict(id=9, image_id=3, category_id=42))
    with pytest.raises(ValueError, match=r'category ids \[42\]'):
        frequency_file_from_annotations(ann)


def test_dataset_frequency_tool(tmp_path):
    src, out = tmp_path / 'train.json', tmp_path / 'freq.json'
    src.write_text(json.dumps(coco_style()))
    run = subprocess.run([sys.executable, str(ROOT / 'tools/dataset_frequency.py'), str(src), '-o', str(out)],
                         capture_output=True, text=True, check=True)
    assert '3 categories (r/c/f = 3/0/0), 3 images' in run.stdout
    assert load_categories(str(out)).image_count.tolist() == [2, 2, 0]
    bad = subprocess.run([sys.executable, str(ROOT / 'tools/dataset_frequency.py'), str(tmp_path / 'x.json'),
                          '-o', str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and 'No such file' in bad.stderr
