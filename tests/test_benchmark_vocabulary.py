"""Designs whose data set has other categories than the benchmark configs list (issue 18's
search over the vocabulary): the tail fills, the names the generator writes, and the config
overrides that resize every head and loss."""
import dataclasses
import json

import numpy as np
import pytest
from mmengine.config import Config, DictAction

from conftest import REPO_ROOT
from mmdet_droploss.benchmark import CALIBRATION_METHODS, DESIGNS, HELD_OUT_METHODS, plan_runs
from mmdet_droploss.benchmark.designs import CONFIG_CLASS_NAMES, class_names
from mmdet_droploss.datasets.lvis_regime import LVISRegimeSpec, generate_lvis_regime
from mmdet_droploss.datasets.lvis_regime_vocabulary import (TAIL_FILLS, category_attributes,
                                                            draw_object, long_tail_counts)

FILLS = ('striped', 'checkered', 'banded')


def test_config_class_names_are_the_default_sets():
    cfg = Config.fromfile(str(REPO_ROOT / 'configs/benchmark/mask_rcnn_tiny_bce_bench.py'))
    assert tuple(cfg.metainfo['classes']) == CONFIG_CLASS_NAMES
    assert DESIGNS['issue10'].train_options(uses_rfs=False) == DESIGNS['issue10'].cfg_options


def test_tail_fills_make_room_for_hundreds_of_distinct_categories():
    counts = long_tail_counts(60, 60, 30)
    attrs = category_attributes(counts, 0, 'distinct', FILLS)
    frequent = [a for a, c in zip(attrs, counts) if c > 100]
    tail = [a for a, c in zip(attrs, counts) if c <= 100]
    assert len(set(attrs)) == 150 and {a[3] for a in frequent} == {'solid'}
    assert {a[3] for a in tail} == set(FILLS)
    # distinct: no tail (shape, hue) is a frequent one's, whatever the fill
    assert not {(a[0], a[1]) for a in frequent} & {(a[0], a[1]) for a in tail}
    # one fill keeps the single-fill vocabulary exactly (earlier designs' files unchanged)
    assert category_attributes(counts[:60], 0, 'distinct', ('striped',)) == \
        category_attributes(counts[:60], 0, 'distinct')
    with pytest.raises(ValueError, match='add tail_fills'):
        category_attributes(counts, 0, 'distinct')
    with pytest.raises(ValueError, match='tail_fills must be'):
        category_attributes(counts, 0, 'distinct', ('dotted',))


@pytest.mark.parametrize('fill', FILLS)
def test_each_fill_draws_its_two_tones_inside_the_polygon(fill):
    canvas = np.zeros((40, 40, 3), np.uint8)
    colour = np.array([200, 100, 50], np.uint8)
    points = draw_object(canvas, 'square', colour, fill, 20, 20, 24, 0)
    drawn = canvas.any(2)
    yy, xx = np.nonzero(drawn)
    assert points[:, 0].min() - 1 <= xx.min() and xx.max() <= points[:, 0].max() + 1
    pixels = canvas[yy, xx]
    bright = (pixels == colour).all(1)
    dark = (pixels == (colour * 0.45).astype(np.uint8)).all(1)
    # every drawn pixel is one of the two tones, about half each, in the fill's layout
    assert (bright | dark).all() and 0.35 < bright.mean() < 0.65
    assert (bright == TAIL_FILLS[fill](xx, yy)).all()
    assert drawn.sum() > 0.8 * 24 * 24 / 2


def test_generated_names_and_clutter_follow_the_spec(tmp_path):
    spec = LVISRegimeSpec(train_image_counts=long_tail_counts(8, 8, 4, max_count=150),
                          num_train_images=160, num_val_images=40, min_val_images_rare=4,
                          tail_look='distinct', tail_fills=FILLS)
    paths = generate_lvis_regime(str(tmp_path), spec, write_images=False)
    for split in ('train_ann', 'val_ann'):
        categories = json.load(open(paths[split]))['categories']
        assert tuple(c['name'] for c in sorted(categories, key=lambda c: c['id'])) == \
            class_names(spec)
    # the design's names are what its data set holds: a 20-category design resizes the configs
    design = dataclasses.replace(DESIGNS['vocab150'], spec=spec)
    options = dict(o.split('=', 1) for o in design.test_options())
    assert options['model.roi_head.mask_head.num_classes'] == '20'
    again = generate_lvis_regime(str(tmp_path / 'again'), spec, write_images=False)
    assert open(again['train_ann']).read() == open(paths['train_ann']).read()


def _resolved(config: str, options):
    import mmdet_droploss  # noqa: F401  (registers the scope)
    from argparse import ArgumentParser
    parser = ArgumentParser()
    parser.add_argument('--options', nargs='+', action=DictAction)
    cfg = Config.fromfile(str(REPO_ROOT / config))
    cfg.merge_from_dict(parser.parse_args(['--options', *options]).options)
    return cfg


def test_vocabulary_options_resize_every_method_config(tmp_path):
    design = DESIGNS['vocab150']
    names = list(design.class_names)
    assert len(names) == 150 and tuple(names) != CONFIG_CLASS_NAMES
    for run in plan_runs(str(tmp_path), [*CALIBRATION_METHODS, *HELD_OUT_METHODS], [0]):
        cfg = _resolved(run.config, design.train_options(run.uses_rfs))
        head = cfg.model.roi_head
        assert head.bbox_head.num_classes == head.bbox_head.loss_cls.num_classes == \
            head.mask_head.num_classes == 150, run.method
        train_set = cfg.train_dataloader.dataset
        if run.uses_rfs:
            assert train_set.type == 'ClassBalancedDataset'
            assert train_set.oversample_thr == pytest.approx(57 / 1440, rel=1e-5)
            train_set = train_set.dataset
        for dataset in (train_set, cfg.val_dataloader.dataset, cfg.test_dataloader.dataset):
            assert list(dataset.metainfo['classes']) == names, run.method
        # testing a run's model resizes the same modules and the test sets only
        test_cfg = _resolved(run.config, design.test_options())
        assert test_cfg.model.roi_head.mask_head.num_classes == 150
        assert list(test_cfg.test_dataloader.dataset.metainfo['classes']) == names
