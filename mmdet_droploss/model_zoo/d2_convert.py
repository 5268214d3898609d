"""Convert detectron2 Mask R-CNN (ResNet-FPN) checkpoints to MMDetection state dicts.

Written for the checkpoints of the EQL / DropLoss detectron2 code bases (a sigmoid head:
``cls_score`` has C outputs, ``bbox_pred`` 4*C), and handles detectron2's standard softmax head
(C + 1 outputs, background last, as in MMDetection) too. Key mapping (``{s}`` = 2..5,
``{b}`` = block, ``{k}`` = 1..3, ``{l}`` = 2..5, ``{p}`` = weight/bias/running_mean/running_var)::

    backbone.bottom_up.stem.conv1.weight            backbone.conv1.weight
    backbone.bottom_up.stem.conv1.norm.{p}          backbone.bn1.{p}
    backbone.bottom_up.res{s}.{b}.conv{k}.weight    backbone.layer{s-1}.{b}.conv{k}.weight
    backbone.bottom_up.res{s}.{b}.conv{k}.norm.{p}  backbone.layer{s-1}.{b}.bn{k}.{p}
    backbone.bottom_up.res{s}.{b}.shortcut.weight   backbone.layer{s-1}.{b}.downsample.0.weight
    backbone.bottom_up.res{s}.{b}.shortcut.norm.{p} backbone.layer{s-1}.{b}.downsample.1.{p}
    backbone.fpn_lateral{l}.*                       neck.lateral_convs.{l-2}.conv.*
    backbone.fpn_output{l}.*                        neck.fpn_convs.{l-2}.conv.*
    proposal_generator.rpn_head.conv.*              rpn_head.rpn_conv.*
    proposal_generator.rpn_head.objectness_logits.* rpn_head.rpn_cls.*
    proposal_generator.rpn_head.anchor_deltas.*     rpn_head.rpn_reg.*
    roi_heads.box_head.fc{1,2}.*                    roi_head.bbox_head.shared_fcs.{0,1}.*
    roi_heads.box_predictor.cls_score.*             roi_head.bbox_head.fc_cls.*
    roi_heads.box_predictor.bbox_pred.*             roi_head.bbox_head.fc_reg.*
    roi_heads.mask_head.mask_fcn{1..4}.*            roi_head.mask_head.convs.{0..3}.conv.*
    roi_heads.mask_head.deconv.*                    roi_head.mask_head.upsample.*
    roi_heads.mask_head.predictor.*                 roi_head.mask_head.conv_logits.*
    pixel_mean, pixel_std                           (not weights: become the config's
                                                     data_preprocessor mean/std)

Frozen BN layers have no ``num_batches_tracked``; zeros are added so the result loads strictly.
Tensors are copied unchanged: the anchor order (3 aspect ratios 0.5, 1, 2 per position), the
delta layout (anchor-major, dx dy dw dh), the class order (sorted LVIS category ids) and the
flattening order of RoI features are the same in both libraries.

Two things shapes cannot show, which the converted model's config must match:
detectron2's MSRA ResNets put the stride in the 1x1 convolution (MMDetection ``style='caffe'``)
and take BGR pixels normalised by mean only (:func:`derived_config`).
"""
import _compat_pickle
import codecs
import dataclasses
import pickle
import re
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Optional, Pattern, Sequence, Tuple

import numpy as np
import torch

__all__ = ['D2_DEFAULT_PIXEL_MEAN', 'D2_DEFAULT_PIXEL_STD', 'ConversionResult', 'compare_shapes',
           'convert_d2_state_dict', 'derived_config', 'expected_mmdet_keys', 'load_d2_checkpoint',
           'map_d2_key']

# detectron2's defaults (MODEL.PIXEL_MEAN / PIXEL_STD) for its MSRA ImageNet backbones, BGR.
D2_DEFAULT_PIXEL_MEAN = (103.530, 116.280, 123.675)
D2_DEFAULT_PIXEL_STD = (1.0, 1.0, 1.0)
_NON_WEIGHTS = ('pixel_mean', 'pixel_std')
_DEPTHS = {(3, 4, 6, 3): 50, (3, 4, 23, 3): 101, (3, 8, 36, 3): 152}

_Rule = Tuple[Pattern, Callable[[re.Match], str]]
_RULES: List[_Rule] = [(re.compile(p + r'$'), f) for p, f in [
    (r'backbone\.bottom_up\.stem\.conv1\.weight', lambda m: 'backbone.conv1.weight'),
    (r'backbone\.bottom_up\.stem\.conv1\.norm\.(\w+)', lambda m: f'backbone.bn1.{m[1]}'),
    (r'backbone\.bottom_up\.res([2-5])\.(\d+)\.conv([1-3])\.weight',
     lambda m: f'backbone.layer{int(m[1]) - 1}.{m[2]}.conv{m[3]}.weight'),
    (r'backbone\.bottom_up\.res([2-5])\.(\d+)\.conv([1-3])\.norm\.(\w+)',
     lambda m: f'backbone.layer{int(m[1]) - 1}.{m[2]}.bn{m[3]}.{m[4]}'),
    (r'backbone\.bottom_up\.res([2-5])\.(\d+)\.shortcut\.weight',
     lambda m: f'backbone.layer{int(m[1]) - 1}.{m[2]}.downsample.0.weight'),
    (r'backbone\.bottom_up\.res([2-5])\.(\d+)\.shortcut\.norm\.(\w+)',
     lambda m: f'backbone.layer{int(m[1]) - 1}.{m[2]}.downsample.1.{m[3]}'),
    (r'backbone\.fpn_lateral([2-5])\.(weight|bias)',
     lambda m: f'neck.lateral_convs.{int(m[1]) - 2}.conv.{m[2]}'),
    (r'backbone\.fpn_output([2-5])\.(weight|bias)',
     lambda m: f'neck.fpn_convs.{int(m[1]) - 2}.conv.{m[2]}'),
    (r'proposal_generator\.rpn_head\.conv\.(weight|bias)', lambda m: f'rpn_head.rpn_conv.{m[1]}'),
    (r'proposal_generator\.rpn_head\.objectness_logits\.(weight|bias)',
     lambda m: f'rpn_head.rpn_cls.{m[1]}'),
    (r'proposal_generator\.rpn_head\.anchor_deltas\.(weight|bias)',
     lambda m: f'rpn_head.rpn_reg.{m[1]}'),
    (r'roi_heads\.box_head\.fc([12])\.(weight|bias)',
     lambda m: f'roi_head.bbox_head.shared_fcs.{int(m[1]) - 1}.{m[2]}'),
    (r'roi_heads\.box_predictor\.cls_score\.(weight|bias)',
     lambda m: f'roi_head.bbox_head.fc_cls.{m[1]}'),
    (r'roi_heads\.box_predictor\.bbox_pred\.(weight|bias)',
     lambda m: f'roi_head.bbox_head.fc_reg.{m[1]}'),
    (r'roi_heads\.mask_head\.mask_fcn([1-4])\.(weight|bias)',
     lambda m: f'roi_head.mask_head.convs.{int(m[1]) - 1}.conv.{m[2]}'),
    (r'roi_heads\.mask_head\.deconv\.(weight|bias)',
     lambda m: f'roi_head.mask_head.upsample.{m[1]}'),
    (r'roi_heads\.mask_head\.predictor\.(weight|bias)',
     lambda m: f'roi_head.mask_head.conv_logits.{m[1]}'),
]]
_BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def map_d2_key(key: str) -> Optional[str]:
    """The MMDetection name of detectron2 parameter ``key`` (``None`` if it has no mapping)."""
    for pattern, rename in _RULES:
        match = pattern.match(key)
        if match:
            return rename(match)
    return None


def expected_mmdet_keys(blocks: Sequence[int]) -> List[str]:
    """Every state-dict key of an MMDetection Mask R-CNN ResNet-FPN with ``blocks`` per stage."""
    bn = [f'.{p}' for p in _BN_PARAMS]
    keys = ['backbone.conv1.weight'] + [f'backbone.bn1{p}' for p in bn]
    for stage, count in enumerate(blocks, start=1):
        for b in range(count):
            prefix = f'backbone.layer{stage}.{b}.'
            for k in (1, 2, 3):
                keys += [f'{prefix}conv{k}.weight'] + [f'{prefix}bn{k}{p}' for p in bn]
            if b == 0:
                keys += [f'{prefix}downsample.0.weight'] + [f'{prefix}downsample.1{p}' for p in bn]
    layers = ([f'neck.lateral_convs.{i}.conv' for i in range(4)]
              + [f'neck.fpn_convs.{i}.conv' for i in range(4)]
              + ['rpn_head.rpn_conv', 'rpn_head.rpn_cls', 'rpn_head.rpn_reg']
              + [f'roi_head.bbox_head.{n}' for n in ('fc_cls', 'fc_reg', 'shared_fcs.0',
                                                      'shared_fcs.1')]
              + [f'roi_head.mask_head.convs.{i}.conv' for i in range(4)]
              + ['roi_head.mask_head.upsample', 'roi_head.mask_head.conv_logits'])
    return keys + [f'{layer}.{p}' for layer in layers for p in ('weight', 'bias')]


@dataclasses.dataclass
class ConversionResult:
    """A converted state dict and what the conversion found."""

    state_dict: 'OrderedDict[str, torch.Tensor]'
    head: str  # 'sigmoid' (C logits) or 'softmax' (C + 1 logits, background last)
    num_classes: int
    depth: Optional[int]  # ResNet depth, None for an unrecognised block layout
    unknown_keys: List[str]  # detectron2 keys with no mapping (not converted)
    missing_keys: List[str]  # MMDetection keys the source did not provide
    pixel_mean: Tuple[float, ...] = D2_DEFAULT_PIXEL_MEAN
    pixel_std: Tuple[float, ...] = D2_DEFAULT_PIXEL_STD
    notes: List[str] = dataclasses.field(default_factory=list)


def _blocks_per_stage(keys: Sequence[str]) -> Tuple[int, ...]:
    counts = {s: 0 for s in (2, 3, 4, 5)}
    for key in keys:
        match = re.match(r'backbone\.bottom_up\.res([2-5])\.(\d+)\.', key)
        if match:
            counts[int(match[1])] = max(counts[int(match[1])], int(match[2]) + 1)
    return tuple(counts[s] for s in (2, 3, 4, 5))


def _head_shapes(sd: Mapping[str, torch.Tensor]) -> Tuple[str, int, List[str]]:
    """Head type and class count from the predictor shapes; raises on inconsistent shapes."""
    cls_w = sd.get('roi_heads.box_predictor.cls_score.weight')
    reg_w = sd.get('roi_heads.box_predictor.bbox_pred.weight')
    if cls_w is None or reg_w is None:
        raise ValueError('Not a detectron2 Fast/Mask R-CNN checkpoint: '
                         'roi_heads.box_predictor.cls_score / bbox_pred are missing.')
    if reg_w.shape[0] % 4 or reg_w.shape[0] == 4:
        raise ValueError(f'bbox_pred has {reg_w.shape[0]} outputs: only class-specific box '
                         'regression (4 per class) is supported.')
    num_classes = reg_w.shape[0] // 4
    if cls_w.shape[0] == num_classes:
        head = 'sigmoid'
    elif cls_w.shape[0] == num_classes + 1:
        head = 'softmax'
    else:
        raise ValueError(f'cls_score has {cls_w.shape[0]} outputs but bbox_pred regresses '
                         f'{num_classes} classes: expected {num_classes} (sigmoid head, '
                         f'EQL/DropLoss) or {num_classes + 1} (softmax head).')
    notes = []
    mask_w = sd.get('roi_heads.mask_head.predictor.weight')
    if mask_w is not None and mask_w.shape[0] != num_classes:
        raise ValueError(f'mask predictor has {mask_w.shape[0]} outputs, expected one per class '
                         f'({num_classes}).')
    if head == 'sigmoid':
        rows = reg_w.reshape(num_classes, 4, -1)
        last, rest = rows[-1].float().std().item(), rows[:-1].float().std().item()
        notes.append(
            f'Sigmoid head: the released EQL/DropLoss code computes the box loss with '
            f'detectron2\'s rule "index C-1 is background" on C logits, so the regression rows '
            f'of the last class ({num_classes - 1}, fc_reg rows {4 * (num_classes - 1)}-'
            f'{4 * num_classes - 1}) were never trained: copied as they are (weight std '
            f'{last:.3g}, vs {rest:.3g} for the other classes); that class keeps its proposal '
            f'boxes almost unrefined, as in the original model.')
    return head, num_classes, notes


def convert_d2_state_dict(d2_state: Mapping[str, Any]) -> ConversionResult:
    """Rename a detectron2 Mask R-CNN R50/R101-FPN state dict for MMDetection.

    Shapes are checked for consistency (classes in the box classifier, box regressor and mask
    predictor); unknown and missing keys are reported in the result, not raised.
    """
    sd = {k[len('module.'):] if k.startswith('module.') else k: torch.as_tensor(v)
          for k, v in d2_state.items()}
    head, num_classes, notes = _head_shapes(sd)
    out: 'OrderedDict[str, torch.Tensor]' = OrderedDict()
    unknown: List[str] = []
    extras: Dict[str, Tuple[float, ...]] = {}
    for key, value in sd.items():
        if key in _NON_WEIGHTS:
            extras[key] = tuple(float(v) for v in value.flatten())
            continue
        new_key = map_d2_key(key)
        if new_key is None:
            unknown.append(key)
        elif new_key in out:
            raise ValueError(f'Two source keys map to {new_key}.')
        else:
            out[new_key] = value
    for key in list(out):  # frozen BN in detectron2: no batch counter
        if key.endswith('.running_mean'):
            counter = key[:-len('running_mean')] + 'num_batches_tracked'
            out.setdefault(counter, torch.tensor(0, dtype=torch.long))
    blocks = _blocks_per_stage(list(sd))
    expected = expected_mmdet_keys(blocks)
    missing = [k for k in expected if k not in out]
    expected_set = set(expected)
    unexpected = [k for k in out if k not in expected_set]
    if unexpected:  # mapped but not part of a Mask R-CNN of this depth (e.g. extra blocks)
        unknown += [f'{k} (mapped, not in the model)' for k in unexpected]
        for k in unexpected:
            out.pop(k)
    if 'pixel_mean' not in extras:
        notes.append('No pixel_mean/pixel_std in the checkpoint: assuming detectron2\'s '
                     f'defaults {D2_DEFAULT_PIXEL_MEAN} / {D2_DEFAULT_PIXEL_STD} (BGR).')
    return ConversionResult(
        state_dict=OrderedDict((k, out[k]) for k in expected if k in out), head=head,
        num_classes=num_classes, depth=_DEPTHS.get(blocks), unknown_keys=unknown,
        missing_keys=missing, pixel_mean=extras.get('pixel_mean', D2_DEFAULT_PIXEL_MEAN),
        pixel_std=extras.get('pixel_std', D2_DEFAULT_PIXEL_STD), notes=notes)


def compare_shapes(converted: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]
                   ) -> Tuple[List[str], List[str], List[str]]:
    """``(missing, unexpected, mismatched)`` keys of ``converted`` against a model's state dict."""
    missing = [k for k in reference if k not in converted]
    unexpected = [k for k in converted if k not in reference]
    mismatched = [f'{k}: checkpoint {tuple(converted[k].shape)} vs model '
                  f'{tuple(reference[k].shape)}' for k in converted
                  if k in reference and converted[k].shape != reference[k].shape]
    return missing, unexpected, mismatched


class _ArraysOnly(pickle.Unpickler):
    """Unpickler for detectron2 ``.pkl`` weights: plain containers and numpy arrays only."""

    def find_class(self, module: str, name: str) -> Any:
        from mmdet_droploss.compat.checkpoint import MMENGINE_SAFE_GLOBALS
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)  # Python 2 module names
        allowed = {'_codecs.encode': codecs.encode}  # how protocol-2 pickles store bytes
        for item in MMENGINE_SAFE_GLOBALS:
            obj, full = item if isinstance(item, tuple) else (
                item, f'{item.__module__}.{item.__qualname__}')
            if full.startswith('numpy'):
                allowed[full] = obj
        if f'{module}.{name}' in allowed:
            return allowed[f'{module}.{name}']
        raise pickle.UnpicklingError(f'{module}.{name} is not allowed in a weights file '
                                     '(numpy arrays and plain containers only).')


def load_d2_checkpoint(path: str) -> Dict[str, Any]:
    """The model state dict of a detectron2 checkpoint (``.pth`` or ``.pkl``), loaded safely."""
    if str(path).endswith('.pkl'):
        with open(path, 'rb') as f:
            ckpt = _ArraysOnly(f, encoding='latin1').load()
    else:
        from mmdet_droploss.compat.checkpoint import load_checkpoint_file
        ckpt = load_checkpoint_file(path, map_location='cpu')
    if isinstance(ckpt, dict) and isinstance(ckpt.get('model'), dict):
        ckpt = ckpt['model']
    elif isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path}: expected a state dict or a dict with a "model" entry.')
    return {k: torch.from_numpy(np.array(v, order='C')) if isinstance(v, np.ndarray) else v
            for k, v in ckpt.items()}


def derived_config(base_config: str, result: ConversionResult, checkpoint: str) -> str:
    """Text of a config inheriting ``base_config`` that evaluates the converted checkpoint."""
    mean = [round(v, 6) for v in result.pixel_mean]
    std = [round(v, 6) for v in result.pixel_std]
    return (
        '# Written by tools/convert_d2_checkpoint.py: evaluate a converted detectron2 checkpoint.\n'
        '# detectron2\'s MSRA ResNets put the stride in the 1x1 conv (style="caffe") and take\n'
        '# BGR pixels normalised with the values stored in the checkpoint.\n'
        f'_base_ = {base_config!r}\n'
        'model = dict(\n'
        f'    data_preprocessor=dict(mean={mean}, std={std}, bgr_to_rgb=False),\n'
        "    backbone=dict(style='caffe', norm_cfg=dict(type='BN', requires_grad=False),\n"
        '                  norm_eval=True, init_cfg=None))\n'
        f'load_from = {checkpoint!r}\n')
