# Mask R-CNN (tiny) with the federated loss on the synthetic long-tailed demo set: the DropLoss
# demo with the loss type swapped and the classifier prior 0.01, as in the federated configs.
# With 20 classes the default 50 places would train every class at every step, so the demo
# trains 8 per step (the batch's classes and drawn ones).
_base_ = './mask_rcnn_tiny_droploss_demo.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(type='FederatedLoss', num_sample_classes=8),
            init_cfg=[dict(_base_.sigmoid_head_init[0], bias_prob=0.01),
                      *_base_.sigmoid_head_init[1:]])))
