"""EQLv2 and the federated loss inside mmdet's shipped Mask R-CNN and Cascade Mask R-CNN: one
training step and one prediction on CPU, as tests/test_mmdet_integration.py does for DropLoss."""
import pytest

from roi_detector import GROUPS, NUM_CLASSES, assert_detections, assert_trained, \
    objectness_scores, train_step_and_predict


@pytest.mark.parametrize('detector', ['mask_rcnn', 'cascade_mask_rcnn'])
@pytest.mark.parametrize('loss_type', ['EQLv2', 'FederatedLoss'])
def test_train_step_and_predict(detector, loss_type, tmp_path, frequency_file):
    loss_cls = dict(type=loss_type, num_classes=NUM_CLASSES, categories=frequency_file(GROUPS))
    if loss_type == 'FederatedLoss':
        loss_cls['num_sample_classes'] = 4
    run = train_step_and_predict(detector, loss_cls, tmp_path)
    assert_trained(run, detector, NUM_CLASSES + 1 if loss_type == 'EQLv2' else NUM_CLASSES)
    for head in run.heads:
        assert head.fc_reg.out_features == (4 if head.reg_class_agnostic else 4 * NUM_CLASSES)
        if loss_type == 'EQLv2':
            # every stage's loss accumulated this step's gradients, kept in the state dict
            assert int(head.loss_cls.num_updates) == 1
            assert head.loss_cls.neg_grad.sum() > 0
    buffers = [k for k in run.model.state_dict() if k.endswith('loss_cls.pos_grad')]
    assert len(buffers) == (len(run.heads) if loss_type == 'EQLv2' else 0)
    # Mask R-CNN with EQLv2: detections carry sigmoid(x_j) * (1 - sigmoid(x_bg)) of their RoI
    expected = None
    if loss_type == 'EQLv2' and len(run.heads) == 1:
        expected = objectness_scores(run.logits)
    assert_detections(run, expected)
