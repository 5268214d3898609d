"""Bad configuration or input fails at build time or at the first call, with a message that
names the problem and the fix."""
import json

import pytest
import torch
from mmdet.registry import MODELS

import mmdet_droploss  # noqa: F401


def build(**cfg):
    return MODELS.build(cfg)


def test_num_classes_must_match_metadata():
    with pytest.raises(ValueError, match=r'num_classes=80 but categories=.lvis_v0.5. has 1230 classes'):
        build(type='DropLoss', num_classes=80, categories='lvis_v0.5')
    with pytest.raises(ValueError, match='1203'):
        build(type='EQL', num_classes=1230, categories='lvis_v1')


def test_unknown_builtin_name():
    with pytest.raises(ValueError, match=r"unknown categories 'lvis_v2'.*lvis_v0.5, lvis_v1"):
        build(type='EQL', num_classes=1230, categories='lvis_v2')


def test_missing_frequency_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist.*dataset_frequency.py'):
        build(type='EQL', num_classes=3, categories=str(tmp_path / 'nope.json'))


@pytest.mark.parametrize('content, message', [
    ('{not json', 'not valid JSON'),
    ('[1, 2]', 'must hold a JSON object'),
    ('{"categories": []}', 'no "categories" list'),
    ('{"num_train_images_with_annotations": 10, "categories": [{"id": 1}]}', '"image_count"'),
    ('{"num_train_images_with_annotations": 10, "categories": '
     '[{"id": 1, "image_count": 3, "frequency": "x"}]}', "frequency must be 'r', 'c' or 'f'"),
    ('{"categories": [{"id": 1, "image_count": 3}]}', 'num_train_images_with_annotations'),
])
def test_malformed_frequency_file(tmp_path, content, message):
    path = tmp_path / 'bad.json'
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        build(type='EQL', num_classes=1, categories=str(path))


def test_labels_outside_range(frequency_file):
    loss = build(type='DropLoss', num_classes=4, categories=frequency_file('rcff'))
    with pytest.raises(ValueError, match=r'labels must be in \[0, 4\].*got values in \[0, 5\]'):
        loss(torch.randn(3, 4), torch.tensor([0, 5, 4]))
    with pytest.raises(ValueError, match=r'got values in \[-1, 4\]'):
        loss(torch.randn(3, 4), torch.tensor([-1, 2, 4]))
    with pytest.raises(TypeError, match='integer tensor'):
        loss(torch.randn(3, 4), torch.tensor([0., 1., 4.]))


def test_wrong_classifier_width(frequency_file):
    loss = build(type='EQL', num_classes=4, categories=frequency_file('rcff'))
    with pytest.raises(ValueError, match=r'expects \(N, 4\) logits .* got shape \(3, 5\)'):
        loss(torch.randn(3, 5), torch.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match='bbox head has num_classes=5'):
        loss.get_cls_channels(5)
    with pytest.raises(ValueError, match=r'expects \(N, 4\)'):
        loss.get_activation(torch.randn(3, 5))


@pytest.mark.parametrize('base', [1, 0.5, -2, float('inf'), '4'])
def test_log_base_must_exceed_one(frequency_file, base):
    with pytest.raises(ValueError, match='log_base must be a finite number > 1'):
        build(type='BEQL', num_classes=4, categories=frequency_file('rcff'), log_base=base)


@pytest.mark.parametrize('ratio', [-0.1, 1.5, True, 'half'])
def test_drop_ratio_range(frequency_file, ratio):
    with pytest.raises(ValueError, match=r'drop_ratio must be None .* in \[0, 1\]'):
        build(type='DropLoss', num_classes=4, categories=frequency_file('rcff'), drop_ratio=ratio)


def test_conflicting_drop_options(frequency_file):
    with pytest.raises(ValueError, match='drop_frequent=True applies to the batch-adaptive'):
        build(type='DropLoss', num_classes=4, categories=frequency_file('rcff'), drop_ratio=0.2,
              drop_frequent=True)


@pytest.mark.parametrize('kwargs, message', [
    (dict(tail_groups='rc'), 'tail_groups must be a sequence'),
    (dict(tail_groups=('rare',)), 'tail_groups must be a sequence'),
    (dict(tail_threshold=2.0), r'tail_threshold \(lambda\) must be in \(0, 1\]'),
    (dict(reduction='avg'), 'reduction must be one of'),
])
def test_bad_tail_and_reduction_options(frequency_file, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(type='EQL', num_classes=4, categories=frequency_file('rcff'), **kwargs)


def test_error_for_wrong_categories_type():
    with pytest.raises(TypeError, match='built-in name'):
        build(type='EQL', num_classes=4, categories=['r', 'c'])


def test_frequency_file_written_by_tool_is_accepted(tmp_path):
    data = dict(num_train_images_with_annotations=20,
                categories=[dict(id=2, name='b', image_count=50), dict(id=1, name='a', image_count=3)])
    path = tmp_path / 'f.json'
    path.write_text(json.dumps(data))
    loss = build(type='EQL', num_classes=2, categories=str(path))
    # sorted by id: class 0 is id 1 (3 images: rare, tail), class 1 is id 2 (common, tail)
    assert loss.tail_mask.tolist() == [True, True]
    assert loss.group_index.tolist() == [0, 1]
