# Mask R-CNN (tiny) with the paper's BCE baseline (sigmoid BCE over the C logits) on the
# synthetic long-tailed demo set (compare with DropLoss).
_base_ = ['./_base_/mask_rcnn_tiny.py', './_base_/lvis_demo.py', './_base_/schedule_demo.py']
