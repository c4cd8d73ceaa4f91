_base_ = './faster-rcnn_hgnetv2-b0_fpn_1x_coco.py'
model = dict(backbone=dict(arch='B4'), neck=dict(in_channels=[128, 512, 1024, 2048]))
