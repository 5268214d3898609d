# The paper's classifier for the RoI box head: C sigmoid logits (no background logit), biases
# initialised to -log((1 - pi) / pi) with pi = 0.001 (mmengine's `bias_prob`), and the plain
# sigmoid BCE baseline loss (mmdet's CrossEntropyCustomLoss, which gives the head C outputs
# through mmdet's custom-channel hooks). Giving a head an init_cfg replaces its defaults, hence
# the fc_reg and Xavier entries, which restore mmdet's own.
sigmoid_head_init = [
    dict(type='Normal', std=0.01, bias_prob=0.001, override=dict(name='fc_cls')),
    dict(type='Normal', std=0.001, override=dict(name='fc_reg')),
    dict(type='Xavier', distribution='uniform',
         override=[dict(name='shared_fcs'), dict(name='cls_fcs'), dict(name='reg_fcs')]),
]
bce_loss = dict(type='CrossEntropyCustomLoss', use_sigmoid=True, loss_weight=1.0)
