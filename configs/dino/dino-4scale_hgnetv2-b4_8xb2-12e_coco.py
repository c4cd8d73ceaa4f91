_base_ = './dino-4scale_hgnetv2-b0_8xb2-12e_coco.py'
model = dict(backbone=dict(arch='B4'), neck=dict(in_channels=[512, 1024, 2048]))
