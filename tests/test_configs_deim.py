"""configs/deim: DEIM's numbers per variant (ShihuaHuang95/DEIM configs/deim_dfine/*.yml), its
flat-cosine lr against DEIM's formula written out here, the Dense O2O pipelines, and the variant
files' overrides of the D-FINE configs."""
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[1]
DEIM = REPO / 'configs/deim'
VARIANTS = 'nsmlx'

# DEIM's configs/deim_dfine/deim_hgnetv2_{n,s,m,l,x}_coco.yml: epoches, policy epochs
# [4, mosaic end, stop] (mixup_epochs [4, mosaic end]), flat_epoch, no_aug_epoch, lr_gamma, lr;
# warmup_iter 2000 (configs/base/deim.yml)
DEIM_PUBLISHED = dict(
    n=dict(epochs=160, policy=[4, 78, 148], flat_epoch=7800, no_aug_epoch=12, lr_gamma=1.0, lr=8e-4),
    s=dict(epochs=132, policy=[4, 64, 120], flat_epoch=64, no_aug_epoch=12, lr_gamma=0.5, lr=4e-4),
    m=dict(epochs=102, policy=[4, 49, 90], flat_epoch=49, no_aug_epoch=12, lr_gamma=0.5, lr=4e-4),
    l=dict(epochs=58, policy=[4, 29, 50], flat_epoch=29, no_aug_epoch=8, lr_gamma=0.5, lr=5e-4),
    x=dict(epochs=58, policy=[4, 29, 50], flat_epoch=29, no_aug_epoch=8, lr_gamma=0.5, lr=5e-4))
WARMUP_ITERS = 2000


def deim_flat_cosine(total_iter, warmup_iter, flat_iter, no_aug_iter, current_iter, init_lr,
                     min_lr):
    """DEIM's flat_cosine_schedule (engine/optim/lr_scheduler.py), restated."""
    if current_iter <= warmup_iter:
        return init_lr * (current_iter / warmup_iter)**2
    if current_iter <= flat_iter:
        return init_lr
    if current_iter >= total_iter - no_aug_iter:
        return min_lr
    progress = (current_iter - flat_iter) / (total_iter - flat_iter - no_aug_iter)
    return min_lr + (init_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


@pytest.fixture(scope='module')
def dense_o2o():
    return Config.fromfile(str(DEIM / '_base_/dense_o2o.py'))


@pytest.mark.parametrize('variant', VARIANTS)
def test_variant_numbers_are_deims(dense_o2o, variant):
    row, published = dense_o2o.deim_variants[variant], DEIM_PUBLISHED[variant]
    stop = row.max_epochs - row.no_aug_epochs
    assert (row.max_epochs, row.no_aug_epochs, row.lr_gamma, row.lr) == \
        (published['epochs'], published['no_aug_epoch'], published['lr_gamma'], published['lr'])
    assert [dense_o2o.deim_mosaic_start, row.mosaic_end, stop] == published['policy']
    assert [h.switch_epoch for h in row.switch_hooks] == published['policy']
    assert dense_o2o.deim_warmup_iters == WARMUP_ITERS
    if published['flat_epoch'] >= published['epochs']:
        assert row.flat_end is None
    else:
        assert row.flat_end == published['flat_epoch']


# no training step between the schedulers' steps here, which torch warns of
@pytest.mark.filterwarnings('ignore:Detected call of `scheduler.step\\(\\)` before')
@pytest.mark.parametrize('variant', VARIANTS)
def test_flat_cosine_lr_matches_deims_formula_at_every_iteration(dense_o2o, variant):
    """mmengine's schedulers built from the variant's param_scheduler (500 iterations an epoch, a
    backbone group at 1/20 the lr), stepped as the runner steps them, against DEIM's formula: equal
    but that the warm-up is one iteration ahead (mmengine's iteration t has DEIM's t + 1) and that
    the last epochs keep the cosine's last value, which is above DEIM's minimum by
    (lr - min) * (1 - cos(pi / T)) / 2 (mmengine's cosine stops one step short of its end)."""
    from mmdet.utils import register_all_modules
    from mmdet.registry import PARAM_SCHEDULERS
    register_all_modules(init_default_scope=False)
    row, published = dense_o2o.deim_variants[variant], DEIM_PUBLISHED[variant]
    epoch_length = 500
    base_lrs = [row.lr, row.lr / 20]
    optimizer = torch.optim.AdamW([dict(params=[torch.zeros(1, requires_grad=True)], lr=lr)
                                   for lr in base_lrs])
    schedulers = []
    for cfg in row.param_scheduler:
        cfg = dict(cfg)
        cls = PARAM_SCHEDULERS.get(cfg.pop('type'))
        if cfg.pop('convert_to_iter_based', False):
            schedulers.append(cls.build_iter_from_epoch(optimizer, **cfg,
                                                        epoch_length=epoch_length))
        else:
            schedulers.append(cls(optimizer, **cfg))
    total = published['epochs'] * epoch_length
    cosine_end = (published['epochs'] - published['no_aug_epoch']) * epoch_length
    worst = 0.0
    for it in range(total):
        deim_iter = it + 1 if it < WARMUP_ITERS else min(it, cosine_end - 1)
        for group, base in zip(optimizer.param_groups, base_lrs):
            expected = deim_flat_cosine(total, WARMUP_ITERS, published['flat_epoch'] * epoch_length,
                                        published['no_aug_epoch'] * epoch_length, deim_iter, base,
                                        base * published['lr_gamma'])
            worst = max(worst, abs(group['lr'] - expected) / base)
        for scheduler in schedulers:
            scheduler.step()
    assert worst <= 1e-12


def _synthetic_results(seed: int) -> dict:
    """What LoadImageFromFile and LoadAnnotations give for a 480 x 360 image with three boxes."""
    from mmdet.structures.bbox import HorizontalBoxes
    rng = np.random.default_rng(seed)
    boxes = np.array([[20, 30, 200, 220], [150, 40, 470, 300], [300, 200, 420, 350]], np.float32)
    return dict(img=rng.integers(0, 255, (360, 480, 3), dtype=np.uint8), img_shape=(360, 480),
                ori_shape=(360, 480), img_path=f'{seed}.jpg', img_id=seed,
                gt_bboxes=HorizontalBoxes(boxes), gt_bboxes_labels=np.array([0, 1, 2]),
                gt_ignore_flags=np.zeros(3, bool))


@pytest.mark.parametrize('stage', ['deim_no_aug_pipeline', 'deim_dense_pipeline',
                                   'deim_aug_pipeline'])
def test_dense_o2o_pipelines_give_640_images(dense_o2o, stage):
    from mmcv.transforms import Compose
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope
    register_all_modules(init_default_scope=False)
    pipeline = dense_o2o[stage]
    assert [t.type for t in pipeline[:2]] == ['LoadImageFromFile', 'LoadAnnotations']
    with DefaultScope.overwrite_default_scope('mmdet'):
        transforms = Compose(pipeline[2:])
    np.random.seed(0)
    for seed in range(12):  # both mosaic choices, and mosaic and mixup with their caches filled
        packed = transforms(_synthetic_results(seed))
        assert tuple(packed['inputs'].shape) == (3, 640, 640)


def _stub_dfine(folder: Path, variant: str) -> None:
    """A stand-in for configs/dfine/dfine_hgnetv2-VARIANT_coco.py with the keys DEIM overrides."""
    folder.mkdir(exist_ok=True)
    (folder / f'dfine_hgnetv2-{variant}_coco.py').write_text(
        "model = dict(type='DFINE', backbone=dict(type='HGNetV2', frozen_stages=0, norm_eval=True),\n"
        "             bbox_head=dict(loss_cls=dict(type='RTDETRVarifocalLoss', alpha=0.75)))\n"
        "optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2.5e-4, weight_decay=1.25e-4))\n"
        "train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=80, val_interval=1)\n"
        "param_scheduler = [dict(type='LinearLR', start_factor=0.001, by_epoch=False, end=2000)]\n"
        "train_dataloader = dict(batch_size=4, dataset=dict(type='CocoDataset', pipeline=[]))\n"
        "custom_hooks = [dict(type='EMAHook')]\n")


def _check_overrides(cfg: Config, variant: str, dfine_hooks: list) -> None:
    published = DEIM_PUBLISHED[variant]
    assert cfg.train_cfg.max_epochs == published['epochs']
    assert cfg.optim_wrapper.optimizer.lr == published['lr']
    assert dict(cfg.model.bbox_head.loss_cls) == dict(type='MatchabilityAwareLoss', gamma=1.5,
                                                      loss_weight=1.0)
    assert (cfg.model.backbone.frozen_stages, cfg.model.backbone.norm_eval) == (-1, False)
    assert cfg.param_scheduler[0].type == 'QuadraticWarmupLR'
    assert cfg.custom_hooks[:len(dfine_hooks)] == dfine_hooks
    assert [h.switch_epoch for h in cfg.custom_hooks[len(dfine_hooks):]] == published['policy']
    assert cfg.train_dataloader.dataset.pipeline == cfg.deim_no_aug_pipeline


@pytest.mark.parametrize('variant', VARIANTS)
def test_variant_overrides_only_what_deim_changes_on_a_dfine_stand_in(tmp_path, variant):
    shutil.copytree(DEIM, tmp_path / 'deim')
    _stub_dfine(tmp_path / 'dfine', variant)
    cfg = Config.fromfile(str(tmp_path / f'deim/deim_hgnetv2-{variant}_coco.py'))
    _check_overrides(cfg, variant, [dict(type='EMAHook')])
    assert cfg.optim_wrapper.optimizer.weight_decay == 1.25e-4  # D-FINE's, kept
    assert cfg.train_dataloader.batch_size == 4


@pytest.mark.parametrize('variant', VARIANTS)
def test_variant_overrides_the_dfine_config(variant):
    dfine = REPO / f'configs/dfine/dfine_hgnetv2-{variant}_coco.py'
    if not dfine.exists():
        pytest.skip(f'{dfine.relative_to(REPO)} is absent: the D-FINE configs are written on '
                    'another branch')
    cfg = Config.fromfile(str(DEIM / f'deim_hgnetv2-{variant}_coco.py'))
    _check_overrides(cfg, variant, list(Config.fromfile(str(dfine)).custom_hooks))
