# RT-DETR-L fine-tuned from its COCO release (PaddleDetection's or lyuwenyu/RT-DETR's, converted by
# tools/convert_detector.py, or the release itself under the safe-loading opt-in) on the tiny set's 3
# classes: the release's model and preprocessing (./rtdetr_hgnetv2-l_release_coco.py) on the tiny set
# as ./rtdetr_hgnetv2-b0_1xb4-6e_tiny-coco.py reads it, at a tenth of its learning rate. The
# class-dependent weights (the classifiers, the denoising label embedding) do not fit 3 classes:
# mmengine skips them with a size-mismatch warning, and they keep this model's initialisation.
_base_ = './rtdetr_hgnetv2-l_release_coco.py'

load_from = 'checkpoints/rtdetr_hgnetv2-l_coco.pth'
data_root = 'data/tiny_coco/'
metainfo = dict(classes=('circle', 'triangle', 'square'))  # hgnet_backbones.tiny_data.SHAPES
model = dict(data_preprocessor=dict(batch_augments=None), bbox_head=dict(num_classes=3))

image_size = (320, 320)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=image_size, keep_ratio=False),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=False),
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
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=1e-5))
max_epochs = 6
param_scheduler = [dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=48)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
custom_hooks = []  # no EMA over so few iterations
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(logger=dict(interval=12), checkpoint=dict(interval=max_epochs))
