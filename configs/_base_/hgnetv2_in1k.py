# PaddleClas's PP-HGNetV2 ImageNet-1k recipe (ppcls/configs/ImageNet/PPHGNetV2/PPHGNetV2_B*.yaml, which are
# identical but for the model name) for 8 GPUs x 128 images. Variant configs set only the arch.
#
# Where this differs from PaddleClas, and why:
# - Warm-up starts at 1e-4 x lr, not 0: mmengine 0.10.7's LinearLR divides by a zero start factor.
# - AMP (PaddleClas: O1, dynamic loss scaling from 128) is the optim wrapper below; tools/train.py
#   falls back to fp32 where no GPU is present (AmpOptimWrapper refuses to run on CPU).
# - PaddleClas's published top-1 come from SSLD distillation (see the *_ssld-stage1-pre_* and
#   *_3rdparty-ssld-stage2_* configs), not from this recipe; PaddleClas says the same of its yaml.
_base_ = ['mmpretrain::_base_/default_runtime.py']

# as in every family, custom_imports sits in the config that first puts HGNetV2 into a model: here
custom_imports = dict(imports=['hgnet_backbones'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(type='HGNetV2', arch='B4', out_indices=(3, )),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='HGNetV2ClsHead',
        arch='B4',  # in_channels and use_lab follow the arch
        num_classes=1000,
        hidden_channels=2048,
        dropout=0.0,
        # PaddleClas CELoss(epsilon=0.1): (1 - eps) * one_hot + eps / num_classes
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))

# RGB, x/255 then ImageNet mean/std, as PaddleClas's NormalizeImage
data_preprocessor = dict(
    num_classes=1000,
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)
bgr_mean = data_preprocessor['mean'][::-1]
bgr_std = data_preprocessor['std'][::-1]

train_pipeline = [
    dict(type='LoadImageFromFile'),
    # RandCropImage(size=224, interpolation=bicubic, backend=pil): scale (0.08, 1), ratio (3/4, 4/3)
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # TimmAutoAugment 'rand-m7-mstd0.5-inc1': 2 ops, magnitude 7 of 10 with std 0.5, increasing ops
    dict(
        type='RandAugment',
        policies='timm_increasing',
        num_policies=2,
        total_level=10,
        magnitude_level=7,
        magnitude_std=0.5,
        hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    # RandomErasing(EPSILON=0.25, sl=0.02, sh=1/3, r1=0.3, use_log_aspect, mode=pixel): per-pixel
    # N(0, 1) after normalisation is N(mean, std) before it
    dict(
        type='RandomErasing',
        erase_prob=0.25,
        mode='rand',
        min_area_ratio=0.02,
        max_area_ratio=1 / 3,
        aspect_range=(0.3, 1 / 0.3),
        fill_color=bgr_mean,
        fill_std=bgr_std),
    dict(type='PackInputs'),
]
# ResizeImage(resize_short=232, bicubic, pil) -> CropImage(224)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=232, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='train',
                 pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=128,
    num_workers=8,
    dataset=dict(type='ImageNet', data_root='data/imagenet', split='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, 5))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# Momentum 0.9, lr 0.5 for a global batch of 1024; L2 2e-5 on everything but BN (PaddleClas gives BN
# weights and biases L2Decay(0)); LAB scale and bias at 0.01x the learning rate (lab_lr=0.01).
optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale=dict(init_scale=128.0),
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=2e-5, nesterov=False),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys={'.lab.': dict(lr_mult=0.01)}))

# Cosine with 5 warm-up epochs, both per iteration, to 0 at epoch 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=195, eta_min=0.0, by_epoch=True, begin=5, end=200,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
# lr 0.5 is for a global batch of 1024 (8 x 128): mmengine scales it linearly to the global batch of the
# run (processes x train_dataloader.batch_size), e.g. 0.25 on 4 GPUs
auto_scale_lr = dict(enable=True, base_batch_size=1024)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='auto'))
