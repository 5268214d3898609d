# Mask R-CNN (tiny) with EQL on the synthetic long-tailed demo set (compare with DropLoss).
_base_ = ['./_base_/mask_rcnn_tiny.py', './_base_/lvis_demo.py', './_base_/schedule_demo.py']

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='EQL',
                num_classes={{_base_.num_classes}},
                categories={{_base_.category_file}},
                loss_weight=1.0))))
