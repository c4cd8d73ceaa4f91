# RTMDet-L's neck, head and recipe over HGNetV2-B4's stages 2-4 (strides 8, 16, 32). A 1x1 conv + BN
# first projects every stage to the neck's width, as RT-DETR's encoder does for HGNetV2: B4's stages
# are twice CSPNeXt-L's, and CSPNeXtPAFPN keeps its input widths (86M parameters in the neck without).
_base_ = ['mmdet::rtmdet/rtmdet_l_8xb32-300e_coco.py', '../_base_/hgnetv2_det.py']
custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)

model = dict(
    # HGNetV2 was trained on ImageNet-normalised RGB; RTMDet's statistics are for its BGR CSPNeXt.
    # Padding to 32 lets any image size through the neck (RTMDet's pipelines pad to 640x640).
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(_base_.hgnetv2_backbone, arch='B4', out_indices=(1, 2, 3)),
    neck=[
        dict(type='ChannelMapper', in_channels=[512, 1024, 2048],  # stage_channels('B4')[1:]
             out_channels=256, kernel_size=1, norm_cfg=dict(type='SyncBN'), act_cfg=None),
        dict(_base_.model.neck, in_channels=[256, 256, 256]),
    ])
