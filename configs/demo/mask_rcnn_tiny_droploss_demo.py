# The main job: Mask R-CNN (tiny) with DropLoss on the synthetic long-tailed demo set, 2 CPU
# processes: `tools/dist_train.sh configs/demo/mask_rcnn_tiny_droploss_demo.py 2`.
_base_ = ['./_base_/mask_rcnn_tiny.py', './_base_/lvis_demo.py', './_base_/schedule_demo.py']

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='DropLoss',
                num_classes={{_base_.num_classes}},
                categories={{_base_.category_file}},
                loss_weight=1.0))))
