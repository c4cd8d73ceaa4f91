# UPerNet-B0 on the tiny ADE20K-layout set (tools/make_tiny_dataset.py seg data/tiny_ade20k), on a CPU
# in minutes, validated before and after training. The backbone starts from its default init, as the
# SSLD weights may not be reachable (--cfg-options model.backbone.init_cfg.type=Pretrained
# model.backbone.init_cfg.checkpoint=X loads X); from scratch, AdamW learns far faster here than the
# ADE20K recipe's SGD (measured: 46 vs 33 mIoU).
_base_ = './upernet_hgnetv2-b0_4xb4-160k_ade20k-512x512.py'

data_root = 'data/tiny_ade20k'
crop_size = (128, 128)
# hgnet_backbones.tiny_data.SEG_CLASSES, label values 1..6 in the PNGs
classes = ('background', 'cat', 'coffee', 'rocket', 'motorcycle', 'astronaut')
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(init_cfg=dict(_delete_=True, type='Kaiming', layer='Conv2d', mode='fan_in')),
    # heads 8x narrower than the ADE20K config's (512 and 256 channels), to train in minutes on a CPU
    decode_head=dict(channels=64, num_classes=len(classes)),
    auxiliary_head=dict(channels=32, num_classes=len(classes)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(256, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
dataset = dict(type='BaseSegDataset', data_root=data_root, metainfo=dict(classes=classes),
               img_suffix='.jpg', seg_map_suffix='.png', reduce_zero_label=True)
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, pipeline=train_pipeline, **dataset,
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, pipeline=test_pipeline, **dataset,
                 data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation')))
test_dataloader = val_dataloader
# tools/test.py --tta: the native and a 1.25x scale, each flipped and not (mmseg's SegTTAModel averages)
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug', transforms=[
        [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (1.0, 1.25)],
        [dict(type='RandomFlip', prob=1.0, direction='horizontal'),
         dict(type='RandomFlip', prob=0.0, direction='horizontal')],
        [dict(type='LoadAnnotations', reduce_zero_label=True)],
        [dict(type='PackSegInputs')]]),
]

optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=5e-3, weight_decay=0.01))
max_iters = 300
param_scheduler = [dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=max_iters),
                     visualization=dict(draw=False))
custom_hooks = [dict(type='ValidateBeforeTrainingHook')]
