# RT-DETR-L: HGNetV2-B4 (RT-DETR's "L" backbone), hybrid encoder of width 256, 6-layer decoder, 300
# queries; RT-DETRv2's recipe (lyuwenyu/RT-DETR rtdetrv2_pytorch, rtdetrv2_hgnetv2_l_6x_coco.yml and
# PaddleDetection's rtdetr_hgnetv2_l_6x_coco.yml): AdamW 1e-4, backbone at 0.05x (PaddleDetection's
# lr_mult; RT-DETRv2 gives the L backbone 5e-6), weight decay 1e-4 but none on the encoder's and
# decoder's norms, gradients clipped at 0.1, 2000 warm-up iterations, EMA 0.9999 (warm-up 2000), 72
# epochs at batch 16 (4 GPUs x 4). Differences: the backbone starts from PaddleClas's SSLD stage-1
# weights and sees ImageNet-normalised images (as they were trained), where RT-DETR's own
# pretraining feeds it [0, 1] pixels; the last epoch keeps the augmentations; no AMP.
_base_ = ['mmdet::_base_/datasets/coco_detection.py', 'mmdet::_base_/default_runtime.py']
custom_imports = dict(imports=['hgnet_backbones', 'hgnet_backbones.models.rtdetr'],
                      allow_failed_imports=False)

embed_dims = 256
model = dict(
    type='RTDETR',
    num_queries=300,
    num_feature_levels=3,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        # RT-DETR's multi-scale training: each batch resized to one of 480, 512, ..., 800
        batch_augments=[dict(type='BatchSyncRandomResize', random_size_range=(480, 800),
                             size_divisor=32, interval=1)]),
    # ../_base_/hgnetv2_det.py's settings, written out: its dict replaces (_delete_) an mmdet anchor's
    # ResNet, and mmdet has no RT-DETR to inherit
    backbone=dict(type='HGNetV2', arch='B4', out_indices=(1, 2, 3), frozen_stages=0, norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint='ssld_stage1')),
    neck=dict(
        type='RTDETRHybridEncoder',
        in_channels=[512, 1024, 2048],  # hgnet_backbones.stage_channels('B4')[1:]
        embed_dims=embed_dims,
        out_channels=embed_dims,
        use_encoder_idx=[2],
        encoder=dict(
            num_layers=1,
            layer_cfg=dict(
                self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.0),
                ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=1024, ffn_drop=0.0,
                             act_cfg=dict(type='GELU')))),
        expansion=1.0,
        num_csp_blocks=3),
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.0),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, num_levels=3, num_points=4,
                                dropout=0.0),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=1024, ffn_drop=0.0))),
    bbox_head=dict(
        type='RTDETRHead',
        num_classes=80,
        embed_dims=embed_dims,
        sync_cls_avg_factor=True,
        loss_cls=dict(type='RTDETRVarifocalLoss', alpha=0.75, gamma=2.0, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0)),
    dn_cfg=dict(label_noise_scale=0.5, box_noise_scale=1.0,
                group_cfg=dict(dynamic=True, num_groups=None, num_dn_queries=100)),
    train_cfg=dict(
        assigner=dict(
            type='HungarianAssigner',
            match_costs=[
                dict(type='FocalLossCost', weight=2.0, alpha=0.25, gamma=2.0, eps=1e-8),
                dict(type='BBoxL1Cost', weight=5.0, box_format='xywh'),
                dict(type='IoUCost', iou_mode='giou', weight=2.0)
            ])),
    test_cfg=dict(max_per_img=300))

backend_args = None
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomApply', prob=0.5, transforms=dict(type='PhotoMetricDistortion')),
    dict(type='Expand', mean=[123.675, 116.28, 103.53], to_rgb=True, ratio_range=(1, 4), prob=0.5),
    dict(type='RandomApply', prob=0.8, transforms=dict(type='MinIoURandomCrop')),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(640, 640), keep_ratio=False),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=(640, 640), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=4, num_workers=4,
                        dataset=dict(filter_cfg=dict(filter_empty_gt=False),
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys=dict(backbone=dict(lr_mult=0.05))))

max_epochs = 72
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=2000)]
custom_hooks = [
    dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, gamma=2000,
         update_buffers=True, priority=49)
]
auto_scale_lr = dict(base_batch_size=16)
