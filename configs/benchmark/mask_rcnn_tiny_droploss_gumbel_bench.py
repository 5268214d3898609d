# GOL's Gumbel DropLoss (Alexandridis et al., ECCV 2022) on the LVIS-regime benchmark set, an
# extra row: the DropLoss config with activation='gumbel' and GOL's classifier init (bias -2,
# inside the [-4, 10] logit range the Gumbel loss trains on), as configs/gol/.
_base_ = './mask_rcnn_tiny_droploss_bench.py'

model = dict(
    roi_head=dict(
        bbox_head=dict(
            loss_cls=dict(activation='gumbel'),
            init_cfg=[dict(type='Constant', val=0.001, bias=-2.0, override=dict(name='fc_cls')),
                      *_base_.sigmoid_head_init[1:]])))
