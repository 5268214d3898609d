# Mask R-CNN R50-FPN, GOL (Gumbel DropLoss), LVIS v1.0, RFS at 0.0005, with the authors'
# normalised mask predictor (mmdet's NormedConv2d, temperature 20; kostas1515/GOL
# configs/gol/droploss_normed_mask_r50_rfs_4x4_2x_gumbel.py, whose published model this is closest
# to). Schedule and RFS threshold stay ours (the authors: 24 epochs, RFS 0.001, tail
# threshold lambda 0.0011 instead of the rare + common groups).
_base_ = './mask_rcnn_r50_lvis_v1_rfs.py'

model = dict(roi_head=dict(mask_head=dict(predictor_cfg=dict(type='NormedConv2d', tempearture=20))))
