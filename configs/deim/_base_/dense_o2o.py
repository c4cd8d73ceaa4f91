# DEIM (ShihuaHuang95/DEIM, configs/base/deim.yml and configs/deim_dfine/deim_hgnetv2_*_coco.yml) on
# D-FINE: what DEIM changes, per variant, for configs/deim/deim_hgnetv2-*_coco.py to pick up.
# Its keys are prefixed deim_ because mmengine forbids a key in two bases (the D-FINE config is the
# other).
#
# - Dense O2O: more targets per image through mosaic and mixup, in four stages (DEIM's policy
#   epochs [4, mosaic_end, stop] and mixup_epochs [4, mosaic_end]): epochs [0, 4) and [stop, end)
#   flip and resize only; [4, mosaic_end) mosaic with probability 0.5 (never with zoom-out or IoU crop
#   in the same image), photometric distortion, and mixup with probability 0.5; [mosaic_end, stop)
#   D-FINE's augmentations (photometric distortion, zoom-out, IoU crop) without mosaic and mixup.
#   mmdet's transforms, switched by mmdet's PipelineSwitchHook. Differences: DEIM mixes up whole
#   batches in its collate function, mmdet's CachedMixUp one image with a cached one; mmdet's
#   photometric distortion shifts brightness by up to 32 where torchvision's scales it by 0.875-1.125.
# - MAL: the Matchability-Aware Loss (gamma 1.5, no alpha) replaces the varifocal loss.
# - Flat-cosine lr (DEIM's FlatCosineLRScheduler): a quadratic warm-up over 2000 iterations, the lr
#   flat until flat_end, a cosine down to lr * lr_gamma at end - no_aug, then flat at that minimum.
#   mmdet's QuadraticWarmupLR gives iteration t the lr DEIM gives iteration t + 1.
# - The backbone trains all stages and its norms (DEIM's freeze_at -1, freeze_norm False), and the lr is
#   DEIM's (twice D-FINE's for S, M, L and X).
deim_loss_cls = dict(_delete_=True, type='MatchabilityAwareLoss', gamma=1.5, loss_weight=1.0)
deim_backbone = dict(frozen_stages=-1, norm_eval=False)
deim_warmup_iters = 2000
deim_mosaic_start = 4

# one row per variant: DEIM's epoches, policy epochs [4, mosaic_end, stop] with stop = epochs - no_aug,
# flat_epoch (None: N never decays, its flat_epoch 7800 is past the end), lr_gamma and lr
deim_variants = dict(
    n=dict(max_epochs=160, no_aug_epochs=12, mosaic_end=78, flat_end=None, lr_gamma=1.0, lr=8e-4),
    s=dict(max_epochs=132, no_aug_epochs=12, mosaic_end=64, flat_end=64, lr_gamma=0.5, lr=4e-4),
    m=dict(max_epochs=102, no_aug_epochs=12, mosaic_end=49, flat_end=49, lr_gamma=0.5, lr=4e-4),
    l=dict(max_epochs=58, no_aug_epochs=8, mosaic_end=29, flat_end=29, lr_gamma=0.5, lr=5e-4),
    x=dict(max_epochs=58, no_aug_epochs=8, mosaic_end=29, flat_end=29, lr_gamma=0.5, lr=5e-4),
)

_load = [dict(type='LoadImageFromFile', backend_args=None),
         dict(type='LoadAnnotations', with_bbox=True)]
_finish = [dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False),
           dict(type='RandomFlip', prob=0.5),
           dict(type='Resize', scale=(640, 640), keep_ratio=False),
           dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1), keep_empty=False)]
_pack = [dict(type='PackDetInputs')]
# D-FINE's augmentations (torchvision's RandomPhotometricDistort, RandomZoomOut, RandomIoUCrop p=0.8)
_dfine_aug = [dict(type='PhotoMetricDistortion'),
              dict(type='Expand', mean=[0, 0, 0], to_rgb=True, ratio_range=(1, 4), prob=0.5),
              dict(type='RandomApply', prob=0.8, transforms=dict(type='MinIoURandomCrop'))]
# DEIM's Mosaic: four 320 x 320 tiles, then rotation 10 deg, translation 0.1, scale 0.5-1.5, fill 0
_mosaic = [dict(type='CachedMosaic', img_scale=(320, 320), pad_val=0.0, max_cached_images=50,
                random_pop=True),
           dict(type='RandomAffine', max_rotate_degree=10, max_translate_ratio=0.1,
                scaling_ratio_range=(0.5, 1.5), max_shear_degree=0, border=(0, 0),
                border_val=(0, 0, 0)),
           dict(type='PhotoMetricDistortion')]
deim_no_aug_pipeline = _load + _finish + _pack
deim_dense_pipeline = (_load + [dict(type='RandomChoice', transforms=[_mosaic, _dfine_aug],
                                     prob=[0.5, 0.5])] + _finish +
                       [dict(type='CachedMixUp', img_scale=(640, 640), ratio_range=(1.0, 1.0),
                             max_cached_images=20, pad_val=0.0, prob=0.5)] + _pack)
deim_aug_pipeline = _load + _dfine_aug + _finish + _pack

for _row in deim_variants.values():
    _stop = _row['max_epochs'] - _row['no_aug_epochs']
    _row['param_scheduler'] = [
        dict(type='QuadraticWarmupLR', by_epoch=False, begin=0, end=deim_warmup_iters)]
    if _row['flat_end'] is not None:
        _row['param_scheduler'].append(
            dict(type='CosineAnnealingLR', eta_min_ratio=_row['lr_gamma'], begin=_row['flat_end'],
                 end=_stop, T_max=_stop - _row['flat_end'], by_epoch=True,
                 convert_to_iter_based=True))
    # in epoch order: a resumed run switches through all that are due and keeps the last
    _row['switch_hooks'] = [
        dict(type='PipelineSwitchHook', switch_epoch=deim_mosaic_start,
             switch_pipeline=deim_dense_pipeline),
        dict(type='PipelineSwitchHook', switch_epoch=_row['mosaic_end'],
             switch_pipeline=deim_aug_pipeline),
        dict(type='PipelineSwitchHook', switch_epoch=_stop, switch_pipeline=deim_no_aug_pipeline)]
del _row, _stop, _load, _finish, _pack, _dfine_aug, _mosaic
