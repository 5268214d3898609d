"""EQLv2 and the federated loss inside mmdet's shipped Mask R-CNN and Cascade Mask R-CNN: one
training step and one prediction on CPU, as tests/test_mmdet_integration.py does for DropLoss."""
import pytest
import torch
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs

from test_mmdet_integration import GROUPS, NUM_CLASSES, detector_cfg


def small_cfg(detector, loss_cls, tmp_path):
    """mmdet's config with a frozen backbone (no backward through it) and fewer test-time
    proposals and detections, to save CPU time; the heads are untouched."""
    cfg = detector_cfg(detector, loss_cls, tmp_path)
    cfg.model.backbone.frozen_stages = 4
    cfg.model.test_cfg.rpn.update(nms_pre=300, max_per_img=100)
    cfg.model.test_cfg.rcnn.max_per_img = 50
    return cfg


def heads_of(model):
    heads = model.roi_head.bbox_head
    return list(heads) if isinstance(heads, torch.nn.ModuleList) else [heads]


@pytest.mark.parametrize('detector', ['mask_rcnn', 'cascade_mask_rcnn'])
@pytest.mark.parametrize('loss_type', ['EQLv2', 'FederatedLoss'])
def test_train_step_and_predict(detector, loss_type, tmp_path, frequency_file):
    loss_cls = dict(type=loss_type, num_classes=NUM_CLASSES, categories=frequency_file(GROUPS))
    if loss_type == 'FederatedLoss':
        loss_cls['num_sample_classes'] = 4
    cfg = small_cfg(detector, loss_cls, tmp_path)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    heads = heads_of(model)
    assert len(heads) == (3 if detector.startswith('cascade') else 1)
    channels = NUM_CLASSES + 1 if loss_type == 'EQLv2' else NUM_CLASSES
    for head in heads:
        assert head.fc_cls.out_features == channels
        assert head.fc_reg.out_features == (4 if head.reg_class_agnostic else 4 * NUM_CLASSES)

    model.train()
    packed = demo_mm_inputs(2, [(3, 128, 160), (3, 96, 128)], num_items=[3, 2],
                            num_classes=NUM_CLASSES, with_mask=True)
    data = model.data_preprocessor(packed, True)
    loss, log_vars = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    prefix = 's0.' if detector.startswith('cascade') else ''
    assert log_vars[f'{prefix}loss_cls'] > 0 and 0 <= log_vars[f'{prefix}acc'] <= 100
    for head in heads:
        grad = head.fc_cls.weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0
        if loss_type == 'EQLv2':
            # every stage's loss accumulated this step's gradients, kept in the state dict
            assert int(head.loss_cls.num_updates) == 1
            assert head.loss_cls.neg_grad.sum() > 0
    state = model.state_dict()
    buffers = [k for k in state if k.endswith('loss_cls.pos_grad')]
    assert len(buffers) == (len(heads) if loss_type == 'EQLv2' else 0)

    model.eval()
    captured = []
    hook = heads[-1].register_forward_hook(lambda module, args, output: captured.append(output[0]))
    with torch.no_grad():
        results = model(**model.data_preprocessor(packed, False), mode='predict')
    hook.remove()
    assert len(results) == 2
    if loss_type == 'EQLv2' and len(heads) == 1:
        # detections carry sigmoid(x_j) * (1 - sigmoid(x_bg)) of their RoI (rows of both images)
        p = torch.cat(captured).sigmoid()
        expected = p[:, :NUM_CLASSES] * (1 - p[:, NUM_CLASSES:])
        for result in results:
            for score, label in zip(result.pred_instances.scores, result.pred_instances.labels):
                assert torch.isclose(expected[:, label], score, rtol=1e-5, atol=1e-7).any()
    for result in results:
        pred = result.pred_instances
        assert 0 < len(pred) <= 50
        assert pred.scores.min() >= 1e-4 and pred.scores.max() <= 1
        assert pred.labels.min() >= 0 and pred.labels.max() < NUM_CLASSES
        assert pred.masks.shape[0] == len(pred)
