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
                loss_weight=1.0),
            # the paper's prior-probability bias init (pi = 0.001) for the C sigmoid logits
            init_cfg=[
                dict(type='Normal', std=0.01, bias_prob=0.001, override=dict(name='fc_cls')),
                dict(type='Normal', std=0.001, override=dict(name='fc_reg')),
                dict(type='Xavier', distribution='uniform',
                     override=[dict(name='shared_fcs'), dict(name='cls_fcs'),
                               dict(name='reg_fcs')]),
            ])))
