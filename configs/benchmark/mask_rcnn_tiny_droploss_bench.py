# DropLoss on the LVIS-regime benchmark set: the BCE baseline's recipe with loss_cls swapped.
_base_ = './mask_rcnn_tiny_bce_bench.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(
                _delete_=True,
                type='DropLoss',
                num_classes={{_base_.num_classes}},
                categories={{_base_.category_file}}))))
