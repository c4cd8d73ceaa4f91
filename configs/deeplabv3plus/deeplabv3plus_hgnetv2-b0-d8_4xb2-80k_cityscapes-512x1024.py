_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
    '../_base_/hgnetv2_seg.py',
]
custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)

crop_size = (512, 1024)
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    # stages 3 and 4 dilated instead of strided, as ResNetV1c-D8
    backbone=dict(_base_.hgnetv2_backbone, out_stride=8),
    # HGNetV2-B0 stage channels (hgnet_backbones.stage_channels('B0')); c1 is stage 1
    decode_head=dict(in_channels=1024, c1_in_channels=64),
    auxiliary_head=dict(in_channels=512))
