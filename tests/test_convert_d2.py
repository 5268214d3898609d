"""detectron2 -> MMDetection checkpoint conversion (tools/convert_d2_checkpoint.py).

The reference is a real MMDetection Mask R-CNN built from mmdet's own configs. The test writes its
own inverse mapping (MMDetection name -> detectron2 name, spelled out from detectron2's module
names), turns the model's state dict into a detectron2-format one with it, and checks that the
converter gives every tensor back under the right name with the right shape.
"""
import importlib.util
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner.checkpoint import _load_checkpoint
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import mmdet_droploss  # noqa: F401
from mmdet_droploss.compat.checkpoint import UnsafeCheckpointError
from mmdet_droploss.model_zoo import (compare_shapes, convert_d2_state_dict, load_d2_checkpoint)

register_all_modules()
NUM_CLASSES = 7
ROOT = Path(__file__).resolve().parents[1]
PIXEL_MEAN = (103.53, 116.28, 123.675)


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_config(tmp_path, depth=50, head='sigmoid', num_classes=NUM_CLASSES, slim=False) -> str:
    """A Mask R-CNN config; ``slim``: same keys, narrow layers (small files for the CLI tests)."""
    loss = (dict(type='CrossEntropyCustomLoss', use_sigmoid=True, num_classes=num_classes)
            if head == 'sigmoid' else dict(type='CrossEntropyLoss', use_sigmoid=False))
    model = dict(backbone=dict(init_cfg=None), roi_head=dict(
        bbox_head=dict(num_classes=num_classes, loss_cls=dict(_delete_=True, **loss)),
        mask_head=dict(num_classes=num_classes)))
    if slim:
        model['backbone']['base_channels'] = 4
        model.update(neck=dict(in_channels=[16, 32, 64, 128], out_channels=8),
                     rpn_head=dict(in_channels=8, feat_channels=8))
        model['roi_head'].update(bbox_roi_extractor=dict(out_channels=8),
                                 mask_roi_extractor=dict(out_channels=8))
        model['roi_head']['bbox_head'].update(in_channels=8, fc_out_channels=16)
        model['roi_head']['mask_head'].update(in_channels=8, conv_out_channels=8)
    path = tmp_path / f'mask_rcnn_r{depth}_{head}_{num_classes}{"_slim" * slim}.py'
    path.write_text(f"_base_ = 'mmdet::mask_rcnn/mask-rcnn_r{depth}_fpn_1x_coco.py'\n"
                    f'model = {model!r}\n')
    return str(path)


def build_model(config: str):
    return MODELS.build(Config.fromfile(config).model)


def mmdet_to_d2(key: str) -> str:
    """Independent inverse of the converter's mapping, from detectron2's module layout."""
    p = key.split('.')
    if p[0] == 'backbone':
        if p[1] == 'conv1':
            return 'backbone.bottom_up.stem.conv1.weight'
        if p[1] == 'bn1':
            return f'backbone.bottom_up.stem.conv1.norm.{p[2]}'
        block = f'backbone.bottom_up.res{int(p[1][len("layer"):]) + 1}.{p[2]}'
        if p[3] == 'downsample':
            return f'{block}.shortcut.weight' if p[4] == '0' else f'{block}.shortcut.norm.{p[5]}'
        if p[3].startswith('conv'):
            return f'{block}.{p[3]}.weight'
        return f'{block}.conv{p[3][len("bn"):]}.norm.{p[4]}'
    if p[0] == 'neck':
        kind = {'lateral_convs': 'fpn_lateral', 'fpn_convs': 'fpn_output'}[p[1]]
        return f'backbone.{kind}{int(p[2]) + 2}.{p[4]}'
    names = {
        'rpn_head.rpn_conv': 'proposal_generator.rpn_head.conv',
        'rpn_head.rpn_cls': 'proposal_generator.rpn_head.objectness_logits',
        'rpn_head.rpn_reg': 'proposal_generator.rpn_head.anchor_deltas',
        'roi_head.bbox_head.shared_fcs.0': 'roi_heads.box_head.fc1',
        'roi_head.bbox_head.shared_fcs.1': 'roi_heads.box_head.fc2',
        'roi_head.bbox_head.fc_cls': 'roi_heads.box_predictor.cls_score',
        'roi_head.bbox_head.fc_reg': 'roi_heads.box_predictor.bbox_pred',
        'roi_head.mask_head.upsample': 'roi_heads.mask_head.deconv',
        'roi_head.mask_head.conv_logits': 'roi_heads.mask_head.predictor',
    }
    layer, param = key.rsplit('.', 1)
    match = re.fullmatch(r'roi_head\.mask_head\.convs\.(\d)\.conv', layer)
    if match:
        return f'roi_heads.mask_head.mask_fcn{int(match[1]) + 1}.{param}'
    return f'{names[layer]}.{param}'


def to_d2(reference: dict) -> dict:
    """A detectron2-format state dict with distinct random values (frozen BN: no counters)."""
    gen = torch.Generator().manual_seed(0)
    d2 = {mmdet_to_d2(k): torch.randn(v.shape, generator=gen) for k, v in reference.items()
          if not k.endswith('num_batches_tracked')}
    d2['pixel_mean'] = torch.tensor(PIXEL_MEAN).view(3, 1, 1)
    d2['pixel_std'] = torch.ones(3, 1, 1)
    return d2


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('configs')
    cfgs = {(d, h): write_config(tmp, d, h) for d, h in [(50, 'sigmoid'), (101, 'sigmoid'),
                                                         (50, 'softmax')]}
    cfgs['slim'] = write_config(tmp, 50, 'sigmoid', slim=True)
    return {key: (cfg, build_model(cfg).state_dict()) for key, cfg in cfgs.items()}


@pytest.mark.parametrize('depth, head', [(50, 'sigmoid'), (101, 'sigmoid'), (50, 'softmax')])
def test_round_trip_maps_every_key(models, depth, head):
    config, reference = models[(depth, head)]
    d2 = to_d2(reference)
    assert len(d2) == len([k for k in reference if 'num_batches_tracked' not in k]) + 2
    result = convert_d2_state_dict(d2)
    assert (result.depth, result.head, result.num_classes) == (depth, head, NUM_CLASSES)
    assert result.unknown_keys == [] and result.missing_keys == []
    assert list(result.state_dict) == list(reference)  # same keys, in the model's order
    for key, value in result.state_dict.items():
        expected = (torch.zeros((), dtype=torch.long) if key.endswith('num_batches_tracked')
                    else d2[mmdet_to_d2(key)])
        assert value.shape == reference[key].shape, key
        assert torch.equal(value, expected), key
    assert compare_shapes(result.state_dict, reference) == ([], [], [])
    model = build_model(config)
    model.load_state_dict(result.state_dict, strict=True)
    assert torch.equal(model.roi_head.bbox_head.fc_cls.weight,
                       d2['roi_heads.box_predictor.cls_score.weight'])
    assert torch.equal(model.neck.lateral_convs[0].conv.weight, d2['backbone.fpn_lateral2.weight'])
    assert torch.equal(model.backbone.layer3[0].downsample[1].running_var,
                       d2['backbone.bottom_up.res4.0.shortcut.norm.running_var'])
    assert result.pixel_mean == pytest.approx(PIXEL_MEAN) and result.pixel_std == (1.0, 1.0, 1.0)


def test_unknown_and_missing_keys_are_reported(models):
    _, reference = models[(50, 'sigmoid')]
    d2 = to_d2(reference)
    d2['roi_heads.box_head.fc3.weight'] = torch.zeros(3)
    d2['backbone.bottom_up.stem.conv1.norm.scale'] = torch.zeros(3)
    del d2['roi_heads.mask_head.mask_fcn3.weight']
    del d2['backbone.bottom_up.res3.2.conv2.norm.running_var']
    result = convert_d2_state_dict(d2)
    assert sorted(result.unknown_keys) == ['backbone.bn1.scale (mapped, not in the model)',
                                           'roi_heads.box_head.fc3.weight']
    assert result.missing_keys == ['backbone.layer2.2.bn2.running_var',
                                   'roi_head.mask_head.convs.2.conv.weight']
    assert 'backbone.bn1.scale' not in result.state_dict


def test_incomplete_block_is_reported_missing(models):
    _, reference = models[(50, 'sigmoid')]
    d2 = to_d2(reference)
    d2['backbone.bottom_up.res4.6.conv1.weight'] = torch.zeros(3)  # an R50 has res4.0-5
    result = convert_d2_state_dict(d2)
    assert result.depth is None and result.unknown_keys == []
    block = sorted(k for k in result.missing_keys)
    assert block == sorted(f'backbone.layer3.6.{n}' for n in
                           ['conv2.weight', 'conv3.weight'] + [
                               f'bn{i}.{p}' for i in (1, 2, 3) for p in (
                                   'weight', 'bias', 'running_mean', 'running_var',
                                   'num_batches_tracked')])


def test_inconsistent_head_shapes_are_errors(models):
    _, reference = models[(50, 'sigmoid')]
    d2 = to_d2(reference)
    bad = dict(d2, **{'roi_heads.box_predictor.cls_score.weight': torch.zeros(NUM_CLASSES + 2, 1024)})
    with pytest.raises(ValueError, match=r'cls_score has 9 outputs .* expected 7 .* or 8'):
        convert_d2_state_dict(bad)
    bad = dict(d2, **{'roi_heads.box_predictor.bbox_pred.weight': torch.zeros(4, 1024)})
    with pytest.raises(ValueError, match='class-specific box regression'):
        convert_d2_state_dict(bad)
    bad = dict(d2, **{'roi_heads.mask_head.predictor.weight': torch.zeros(3, 256, 1, 1)})
    with pytest.raises(ValueError, match='mask predictor has 3 outputs'):
        convert_d2_state_dict(bad)
    other_classes = {k: v for k, v in convert_d2_state_dict(d2).state_dict.items()}
    ref5 = {k: (v[:5 * (4 if 'fc_reg' in k else 1)] if ('fc_cls' in k or 'fc_reg' in k
                                                         or 'conv_logits' in k) else v)
            for k, v in reference.items()}
    missing, unexpected, mismatched = compare_shapes(other_classes, ref5)
    assert (missing, unexpected) == ([], [])
    assert sorted(m.split(':')[0] for m in mismatched) == sorted(
        f'roi_head.{n}.{p}' for n in ('bbox_head.fc_cls', 'bbox_head.fc_reg',
                                      'mask_head.conv_logits') for p in ('weight', 'bias'))


def test_sigmoid_head_reports_untrained_last_class_regressor(models):
    _, reference = models[(50, 'sigmoid')]
    d2 = to_d2(reference)
    reg = d2['roi_heads.box_predictor.bbox_pred.weight']
    reg[-4:] = torch.randn(4, reg.shape[1]) * 0.001  # never trained: still at its init
    note = ' '.join(convert_d2_state_dict(d2).notes)
    assert f'last class ({NUM_CLASSES - 1}, fc_reg rows {4 * NUM_CLASSES - 4}-{4 * NUM_CLASSES - 1})' in note
    last, rest = map(float, re.search(r'weight std ([-\d.e]+), vs ([-\d.e]+)', note).groups())
    assert last == pytest.approx(reg[-4:].std().item(), rel=1e-2)
    assert rest == pytest.approx(reg[:-4].std().item(), rel=1e-2)


def test_pkl_source_loads_arrays_only(tmp_path, models):
    _, reference = models[(50, 'softmax')]
    d2 = {k: v.numpy() for k, v in to_d2(reference).items() if 'res' not in k}  # keep it small
    d2['iteration_counter'] = np.array(90000, dtype=np.int64)
    good = tmp_path / 'model_final.pkl'
    with open(good, 'wb') as f:
        pickle.dump({'model': d2, '__author__': 'Detectron2 Model Zoo'}, f, protocol=2)
    loaded = load_d2_checkpoint(str(good))
    assert set(loaded) == set(d2)
    assert all(torch.equal(loaded[k], torch.from_numpy(d2[k])) for k in d2)

    class Exploit:
        def __reduce__(self):
            return (print, ('owned',))
    bad = tmp_path / 'evil.pkl'
    with open(bad, 'wb') as f:
        pickle.dump({'model': {'x': Exploit()}}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match='builtins.print is not allowed'):
        load_d2_checkpoint(str(bad))


def test_cli_converts_checks_and_writes_config(tmp_path, models, capsys):
    config, reference = models['slim']
    d2 = to_d2(reference)
    src = tmp_path / 'model_final.pth'
    torch.save({'model': d2, 'iteration': 90000}, src)
    out, cfg_out = tmp_path / 'converted.pth', tmp_path / 'eval_d2.py'
    tool = load_tool('convert_d2_checkpoint')
    assert tool.main([str(src), str(out), '--config', config, '--write-config', str(cfg_out)]) == 0
    printed = capsys.readouterr().out
    assert 'ResNet-50 FPN Mask R-CNN, sigmoid head, 7 classes' in printed

    ckpt = _load_checkpoint(str(out))  # MMEngine's loader: weights_only=True
    assert ckpt['meta']['head'] == 'sigmoid'
    model = MODELS.build(Config.fromfile(str(cfg_out)).model)
    missing, unexpected = model.load_state_dict(ckpt['state_dict'], strict=True)
    assert torch.equal(model.rpn_head.rpn_reg.weight,
                       d2['proposal_generator.rpn_head.anchor_deltas.weight'])
    # What shapes cannot check: caffe-style stride placement and detectron2's normalisation.
    assert model.backbone.layer2[0].conv1.stride == (2, 2)
    assert model.backbone.layer2[0].conv2.stride == (1, 1)
    assert model.data_preprocessor.mean.flatten().tolist() == pytest.approx(PIXEL_MEAN)
    assert model.data_preprocessor.std.flatten().tolist() == [1.0, 1.0, 1.0]
    assert model.data_preprocessor._channel_conversion is False


def test_cli_refuses_incomplete_conversion(tmp_path, models, capsys):
    config, reference = models['slim']
    d2 = to_d2(reference)
    d2['roi_heads.box_head.fc3.weight'] = torch.zeros(3)
    src, out = tmp_path / 'model_final.pth', tmp_path / 'converted.pth'
    torch.save({'model': d2}, src)
    tool = load_tool('convert_d2_checkpoint')
    assert tool.main([str(src), str(out)]) == 1
    assert 'roi_heads.box_head.fc3.weight' in capsys.readouterr().err and not out.exists()
    assert tool.main([str(src), str(out), '--allow-unknown']) == 0 and out.exists()
    out.unlink()
    five = write_config(tmp_path, 50, 'sigmoid', num_classes=5, slim=True)
    assert tool.main([str(src), str(out), '--config', five, '--allow-unknown']) == 1
    assert 'shape mismatches (6)' in capsys.readouterr().err and not out.exists()


def test_unsafe_source_checkpoint_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ('owned',))
    src = tmp_path / 'evil.pth'
    torch.save({'model': {'x': Payload()}}, src)
    with pytest.raises(UnsafeCheckpointError, match='builtins.print'):
        load_d2_checkpoint(str(src))
