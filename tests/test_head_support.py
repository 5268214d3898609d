"""Which heads take the losses: found at build time from the head that builds loss_cls; the heads
that cannot take them are refused with a message naming the supported families."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.utils import register_all_modules

import mmdet_droploss  # noqa: F401

register_all_modules()

FOCAL_KEYS = dict(use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0)


def loss_cfg(path, num_classes, type_='DropLoss', **kwargs):
    return dict(type=type_, num_classes=num_classes, categories=path, **kwargs)


def build_head(type_, loss_cls, num_classes=4, **kwargs):
    return MODELS.build(dict(type=type_, num_classes=num_classes, loss_cls=loss_cls, **kwargs))


@pytest.mark.parametrize('head, kwargs, family', [
    ('RetinaHead', dict(in_channels=8, feat_channels=8, stacked_convs=1), 'dense'),
    ('FCOSHead', dict(in_channels=8, feat_channels=8, stacked_convs=1,
                      norm_cfg=None), 'dense'),
    ('ATSSHead', dict(in_channels=8, feat_channels=8, stacked_convs=1, norm_cfg=None,
                      anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                                            octave_base_scale=8, scales_per_octave=1,
                                            strides=[8, 16])), 'dense'),
    ('DeformableDETRHead', dict(embed_dims=16), 'detr'),
    ('DINOHead', dict(embed_dims=16, as_two_stage=True, num_pred_layer=2), 'detr'),
    ('ConditionalDETRHead', dict(embed_dims=16), 'detr'),
])
def test_supported_heads(frequency_file, head, kwargs, family):
    built = build_head(head, loss_cfg(frequency_file('rcff'), 4, **FOCAL_KEYS), **kwargs)
    loss = built.loss_cls
    assert loss.head_family == family and loss.base_loss == 'focal'
    assert built.cls_out_channels == 4  # C sigmoid outputs: no background logit
    # BBoxHead's hooks are off: these heads score with their own sigmoid (dense heads would
    # otherwise take get_activation's background column)
    assert not loss.custom_cls_channels and not loss.custom_activation
    assert not loss.custom_accuracy


def test_roi_head_keeps_the_hooks_and_bce(frequency_file):
    head = MODELS.build(dict(type='Shared2FCBBoxHead', num_classes=4, in_channels=8,
                             fc_out_channels=16, roi_feat_size=7,
                             loss_cls=loss_cfg(frequency_file('rcff'), 4)))
    assert head.loss_cls.head_family == 'roi' and head.loss_cls.base_loss == 'bce'
    assert head.loss_cls.custom_cls_channels and head.fc_cls.out_features == 4
    scores = head.loss_cls.get_activation(torch.zeros(3, 4))
    assert scores.shape == (3, 5) and scores[:, -1].eq(0).all()


def test_built_on_its_own_or_by_a_non_head_module(frequency_file):
    path = frequency_file('rcff')

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.loss = MODELS.build(loss_cfg(path, 4))
    assert Wrapper().loss.head_family is None
    assert MODELS.build(loss_cfg(path, 4)).head_family is None


SUPPORTED = 'Supported: RoI box heads built on BBoxHead'


@pytest.mark.parametrize('head, num_classes, kwargs, reason', [
    ('GFLHead', 4, dict(in_channels=8, feat_channels=8, stacked_convs=1,
                        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                                              octave_base_scale=8, scales_per_octave=1,
                                              strides=[8])), 'soft'),
    ('RTMDetHead', 4, dict(in_channels=8, feat_channels=8, stacked_convs=1,
                           anchor_generator=dict(type='MlvlPointGenerator', offset=0,
                                                 strides=[8])), 'soft'),
    ('YOLOXHead', 4, dict(in_channels=8, feat_channels=8, stacked_convs=1), 'objectness'),
    ('RPNHead', 1, dict(in_channels=8), 'class-agnostic'),
    ('FreeAnchorRetinaHead', 4, dict(in_channels=8, feat_channels=8, stacked_convs=1),
     'computes its classification loss itself'),
    ('CenterNetUpdateHead', 4, dict(in_channels=8, feat_channels=8, stacked_convs=1), 'heatmap'),
])
def test_unsupported_heads_are_refused(frequency_file, head, num_classes, kwargs, reason):
    loss_cls = loss_cfg(frequency_file('rcff'[:num_classes] if num_classes > 1 else 'f'),
                        num_classes, **FOCAL_KEYS)
    with pytest.raises(ValueError, match=rf'DropLoss cannot be the loss_cls of {head}: .*{reason}'
                                         rf'.*{SUPPORTED}'):
        build_head(head, loss_cls, num_classes=num_classes, **kwargs)


def test_detr_softmax_head_is_refused(frequency_file):
    """DETR's own head is a softmax over C + 1 with a no-object weight: swapping the type in its
    CrossEntropyLoss (what a user's config inherits) is refused, not trained as sigmoid."""
    loss_cls = loss_cfg(frequency_file('rcff'), 4, type_='EQL', bg_cls_weight=0.1,
                        use_sigmoid=False, loss_weight=1.0, class_weight=1.0)
    with pytest.raises(ValueError, match=r"EQL is a sigmoid loss.*use_sigmoid=False, class_weight"
                                         r".*_delete_=True, type='EQL'.*DETR's cannot take it"):
        build_head('DETRHead', loss_cls, embed_dims=16)


def test_dense_head_without_use_sigmoid(frequency_file):
    """With _delete_=True the head's use_sigmoid is gone and RetinaHead would build C + 1
    softmax outputs: refused, naming the fix."""
    with pytest.raises(ValueError, match=r'RetinaHead sizes its classifier from '
                                         r'loss_cls.use_sigmoid.*Add use_sigmoid=True'):
        build_head('RetinaHead', loss_cfg(frequency_file('rcff'), 4), in_channels=8)


def test_two_stage_deformable_detr_is_refused(frequency_file):
    with pytest.raises(ValueError, match='two-stage DeformableDETRHead: its encoder proposals'):
        build_head('DeformableDETRHead', loss_cfg(frequency_file('rcff'), 4, type_='BEQL'),
                   embed_dims=16, as_two_stage=True, num_pred_layer=2)


def test_head_and_loss_num_classes_must_agree(frequency_file):
    with pytest.raises(ValueError, match=r'num_classes=4 but RetinaHead has num_classes=5'):
        build_head('RetinaHead', loss_cfg(frequency_file('rcff'), 4, **FOCAL_KEYS),
                   num_classes=5, in_channels=8)


@pytest.mark.parametrize('loss_type', ['DropLoss', 'EFL'])
@pytest.mark.parametrize('config, head', [('mmdet::gfl/gfl_r50_fpn_1x_coco.py', 'GFLHead'),
                                          ('mmdet::rtmdet/rtmdet_s_8xb32-300e_coco.py',
                                           'RTMDetSepBNHead')])
def test_the_head_is_checked_before_the_leftover_arguments(frequency_file, tmp_path, loss_type,
                                                           config, head):
    """mmdet's GFL / RTMDet config with only the loss type changed (as a user's config merges it
    into QualityFocalLoss, whose beta stays): the first error names the head, not beta."""
    from mmengine.config import Config
    path = tmp_path / 'merged.py'
    categories = frequency_file('f' * 80)
    path.write_text(f"_base_ = '{config}'\nmodel = dict(bbox_head=dict(loss_cls=dict("
                    f"type='{loss_type}', num_classes=80, categories='{categories}')))\n")
    cfg = Config.fromfile(str(path))
    assert cfg.model.bbox_head.loss_cls.beta == 2.0  # QualityFocalLoss's key is still there
    with pytest.raises(ValueError, match=rf'{loss_type} cannot be the loss_cls of {head}: it '
                                         r'trains with soft \(IoU-quality\) classification'):
        MODELS.build(cfg.model.bbox_head)
