# HGNetV2-B0 on the tiny ImageNet-format set (tools/make_tiny_dataset.py cls data/tiny_imagenet): the
# recipe of hgnetv2_in1k.py, scaled down to run on a CPU in a minute or two.
_base_ = '../_base_/hgnetv2_in1k.py'

data_root = 'data/tiny_imagenet'
model = dict(backbone=dict(arch='B0'), head=dict(arch='B0', num_classes=5, topk=(1, )))
data_preprocessor = dict(num_classes=5)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=112, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=128, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=112),
    dict(type='PackInputs'),
]
dataset = dict(type='CustomDataset', data_root=data_root, classes=data_root + '/classes.txt')
train_dataloader = dict(
    batch_size=8, num_workers=0,
    dataset=dict(_delete_=True, ann_file='meta/train.txt', data_prefix='train',
                 pipeline=train_pipeline, **dataset))
val_dataloader = dict(
    batch_size=8, num_workers=0,
    dataset=dict(_delete_=True, ann_file='meta/val.txt', data_prefix='val', pipeline=test_pipeline,
                 **dataset))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=3, eta_min=0.0, by_epoch=True, begin=1, end=4,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=4, val_interval=2)
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=1, save_best=None))
