# mmdet's ResNet-50 recipe with HGNetV2-B0; the FPN starts at stage 2 (start_level=1) as for ResNet
_base_ = ['mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', '../_base_/hgnetv2_det.py']
custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)

model = dict(
    backbone=_base_.hgnetv2_backbone,
    neck=dict(in_channels=[64, 256, 512, 1024]))  # hgnet_backbones.stage_channels('B0')
