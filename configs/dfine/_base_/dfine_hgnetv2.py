# D-FINE over HGNetV2, what its variants share (Peterande/D-FINE configs/dfine/include/*.yml): the
# model at the L variant's numbers (HGNetV2-B4, hybrid encoder of width 256, 6-layer decoder with
# [3, 6, 3] points per level, reg_max 32, reg_scale 4, 300 queries, 100 denoising queries), its
# augmentations and their stop epoch, and its recipe: AdamW (lr 2.5e-4, wd 1.25e-4, none on the
# encoder's and decoder's norms), the backbone at its own lr (lr_mult), gradients clipped at 0.1,
# 500 warm-up iterations, EMA 0.9999 with a 1000-iteration warm-up, a global batch of 32.
# Preprocessing is D-FINE's, which its published weights expect: RGB in [0, 1] (no mean/std), resized
# to 640x640 without keeping the ratio; detections are mapped back to the image.
# Differences from D-FINE: the backbone starts from PaddleClas's SSLD stage-1 weights (D-FINE's
# release of them is the same weights), norms are BN, not SyncBN; no AMP; multi-scale batches
# (BatchSyncRandomResize) go on after the stop epoch, where D-FINE's collate stops them too;
# D-FINE's MultiStepLR (milestone 500 epochs) never steps within its epochs and is left out.
# Losses per decoder layer, each matched on its own (transformers' DFineLoss; D-FINE also uses the
# union of all layers' matches for boxes, FGL and DDF).
_base_ = ['mmdet::_base_/datasets/coco_detection.py', 'mmdet::_base_/default_runtime.py']
custom_imports = dict(imports=['hgnet_backbones', 'hgnet_backbones.models.dfine'],
                      allow_failed_imports=False)

embed_dims = 256
model = dict(
    type='DFINE',
    num_queries=300,
    num_feature_levels=3,
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[0.0, 0.0, 0.0],
        std=[255.0, 255.0, 255.0],
        bgr_to_rgb=True,
        pad_size_divisor=32,
        # D-FINE's multi-scale training: each batch resized to one of 480, 512, ..., 800
        batch_augments=[dict(type='BatchSyncRandomResize', random_size_range=(480, 800),
                             size_divisor=32, interval=1)]),
    # D-FINE's HGNetv2(freeze_stem_only=True, freeze_at=0, freeze_norm=True); its zero-padded stem
    # pool, which its weights were fine-tuned with
    backbone=dict(type='HGNetV2', arch='B4', out_indices=(1, 2, 3), frozen_stages=0, norm_eval=True,
                  stem_pool='zero', init_cfg=dict(type='Pretrained', checkpoint='ssld_stage1')),
    neck=dict(
        type='DFineHybridEncoder',
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
        num_csp_blocks=3),  # D-FINE's round(3 * depth_mult)
    decoder=dict(
        num_layers=6,
        layer_cfg=dict(
            self_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, dropout=0.0),
            cross_attn_cfg=dict(embed_dims=embed_dims, num_heads=8, num_points=[3, 6, 3],
                                offset_scale=0.5),
            ffn_cfg=dict(embed_dims=embed_dims, feedforward_channels=1024, ffn_drop=0.0)),
        reg_max=32,
        reg_scale=4.0,
        up=0.5,
        eval_idx=-1,
        layer_scale=1),
    bbox_head=dict(
        type='DFineHead',
        num_classes=80,
        embed_dims=embed_dims,
        sync_cls_avg_factor=True,
        # D-FINE's weights: VFL 1, L1 5, GIoU 2, FGL 0.15, DDF 1.5
        loss_cls=dict(type='RTDETRVarifocalLoss', alpha=0.75, gamma=2.0, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=5.0),
        loss_iou=dict(type='GIoULoss', loss_weight=2.0),
        loss_fgl=dict(type='FineGrainedLocalizationLoss', loss_weight=0.15),
        loss_ddf=dict(type='DecoupledDistillationFocalLoss', temperature=5.0, loss_weight=1.5)),
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
image_size = (640, 640)
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomApply', prob=0.5, transforms=dict(type='PhotoMetricDistortion')),
    dict(type='Expand', mean=[0, 0, 0], to_rgb=True, ratio_range=(1, 4), prob=0.5),  # RandomZoomOut
    dict(type='RandomApply', prob=0.8, transforms=dict(type='MinIoURandomCrop')),  # RandomIoUCrop
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=image_size, keep_ratio=False),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs')
]
# from the stop epoch on, D-FINE drops the photometric distortion, zoom-out and IoU crop
train_pipeline_stage2 = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=image_size, keep_ratio=False),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=backend_args),
    dict(type='Resize', scale=image_size, keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))
]
train_dataloader = dict(batch_size=8, num_workers=4,
                        dataset=dict(filter_cfg=dict(filter_empty_gt=False),
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2.5e-4, betas=(0.9, 0.999), weight_decay=1.25e-4),
    clip_grad=dict(max_norm=0.1, norm_type=2),
    # backbone at 1.25e-5 (0.05x)
    paramwise_cfg=dict(norm_decay_mult=0.0, custom_keys=dict(backbone=dict(lr_mult=0.05))))

max_epochs = 80
stop_epoch = 72  # the first epoch (0-based) without the strong augmentations
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500)]
ema_hook = dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0001, gamma=1000,
                update_buffers=True, priority=49)
custom_hooks = [
    ema_hook,
    dict(type='PipelineSwitchHook', switch_epoch=stop_epoch, switch_pipeline=train_pipeline_stage2)
]
auto_scale_lr = dict(base_batch_size=32)
