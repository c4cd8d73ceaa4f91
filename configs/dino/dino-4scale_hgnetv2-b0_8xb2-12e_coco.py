# DINO 4-scale over HGNetV2's stages 2-4; ChannelMapper adds the fourth scale. mmdet's recipe trains
# the backbone at 0.1x the learning rate.
_base_ = ['mmdet::dino/dino-4scale_r50_8xb2-12e_coco.py', '../_base_/hgnetv2_det.py']
custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(_base_.hgnetv2_backbone, out_indices=(1, 2, 3)),
    neck=dict(in_channels=[256, 512, 1024]))  # hgnet_backbones.stage_channels('B0')[1:]
