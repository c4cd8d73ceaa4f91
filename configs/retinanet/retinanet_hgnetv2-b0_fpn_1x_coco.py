_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/coco_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        _delete_=True,
        type='HGNetV2',
        arch='B0',
        out_indices=(0, 1, 2, 3),
        frozen_stages=0,  # the stem, as ResNet's frozen_stages=1 freezes its stem and first stage
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='ssld_stage1')),
    # HGNetV2-B0 stage channels (hgnet_backbones.stage_channels('B0')); FPN starts at stage 2
    neck=dict(in_channels=[64, 256, 512, 1024]))

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
