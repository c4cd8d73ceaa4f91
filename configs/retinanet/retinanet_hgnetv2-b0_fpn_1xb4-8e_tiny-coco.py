# HGNetV2-B0 RetinaNet, slimmed to a 64-channel FPN and head (with GroupNorm), on the tiny COCO-format
# set (tools/make_tiny_dataset.py det data/tiny_coco): trains on a CPU in minutes. SSLD weights are not
# needed: the whole backbone, norm statistics included, trains from its own initialisation.
_base_ = './retinanet_hgnetv2-b0_fpn_1x_coco.py'

data_root = 'data/tiny_coco/'
metainfo = dict(classes=('circle', 'triangle', 'square'))  # hgnet_backbones.tiny_data.SHAPES
model = dict(
    backbone=dict(frozen_stages=-1, norm_eval=False,
                  init_cfg=dict(_delete_=True, type='Kaiming', layer='Conv2d', mode='fan_in')),
    neck=dict(out_channels=64),
    bbox_head=dict(num_classes=3, in_channels=64, feat_channels=64, stacked_convs=2,
                   norm_cfg=dict(type='GN', num_groups=32, requires_grad=True)),
    # evaluated on every box the head keeps (max_per_img), not only those above mmdet's 0.05: an
    # untrained detector, whose scores all sit near the head's prior of 0.01, then gets its real AP
    # instead of an empty result
    test_cfg=dict(score_thr=0.0))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale_factor=1.0),  # native sizes (records the scale factor)
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale_factor=1.0),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor')),
]
dataset = dict(data_root=data_root, metainfo=metainfo)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
                 pipeline=train_pipeline, **dataset))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
                 pipeline=test_pipeline, **dataset))
test_dataloader = val_dataloader
# tools/test.py --tta: the native and a 1.25x scale, each flipped and not (mmdet's DetTTAModel merges)
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=1.0), dict(type='Resize', scale_factor=1.25)],
        [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)],
        [dict(type='LoadAnnotations', with_bbox=True)],
        [dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                               'scale_factor', 'flip', 'flip_direction'))]]),
]
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator

# from scratch: AdamW with clipped gradients (4e-3 diverges without clipping)
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=4e-3, weight_decay=0.05),
                     clip_grad=dict(max_norm=10))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=16),
    dict(type='CosineAnnealingLR', T_max=8, eta_min=1e-5, by_epoch=True, begin=0, end=8,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=8, val_interval=2)
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=8))
