_base_ = [
    'mmseg::mask2former/mask2former_r50_8xb2-160k_ade20k-512x512.py',
    '../_base_/hgnetv2_seg.py',
]
# Mask2Former's pixel decoder, transformer and losses come from mmdet
custom_imports = dict(imports=['hgnet_backbones', 'mmdet.models'], allow_failed_imports=False)

model = dict(
    # norm affines frozen, statistics updated, as the ResNet-50 anchor
    backbone=dict(_base_.hgnetv2_backbone, norm_cfg=dict(type='SyncBN', requires_grad=False)),
    # HGNetV2-B0 stage channels (hgnet_backbones.stage_channels('B0'))
    decode_head=dict(in_channels=[64, 256, 512, 1024]))
