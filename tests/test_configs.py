"""Every config of the project builds in its codebase, with the expected sizes and recipe."""
from pathlib import Path

import pytest
import torch

from hgnet_backbones.apis import build_model, codebase_of, load_config

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
# model configs; configs/deploy/ holds mmdeploy deploy configs (tests/test_deploy.py)
ALL_CONFIGS = sorted(p for p in CONFIGS.rglob('*.py') if not {'_base_', 'deploy'} & set(p.parts))

# PaddleClas's trainable parameters of the full classifiers (1000 classes), in millions.
CLASSIFIER_PARAMS_M = {'b0': 6.00, 'b1': 6.34, 'b2': 11.22, 'b3': 16.29, 'b4': 19.80, 'b5': 39.57,
                       'b6': 75.26}


def _params_m(model):
    return round(sum(p.numel() for p in model.parameters()) / 1e6, 2)


@pytest.mark.parametrize('path', ALL_CONFIGS, ids=lambda p: p.name)
def test_config_builds_with_hgnetv2_backbone(path):
    cfg = load_config(str(path))
    assert cfg.custom_imports.imports == ['hgnet_backbones']
    with torch.device('meta'):
        model = build_model(cfg)
    assert type(model.backbone).__name__ == 'HGNetV2'
    assert codebase_of(cfg) in ('mmpretrain', 'mmdet', 'mmseg')


@pytest.mark.parametrize('kind', ['8xb128_in1k', 'ssld-stage1-pre_8xb128-30e_in1k',
                                  '3rdparty-ssld-stage2_in1k'])
@pytest.mark.parametrize('variant', sorted(CLASSIFIER_PARAMS_M))
def test_imagenet_configs_match_paddleclas_parameter_counts(variant, kind):
    cfg = load_config(str(CONFIGS / 'hgnetv2' / f'hgnetv2-{variant}_{kind}.py'))
    with torch.device('meta'):
        model = build_model(cfg)
    assert model.backbone.arch_name == variant.upper()
    assert _params_m(model) == CLASSIFIER_PARAMS_M[variant]


def test_imagenet_recipe_numbers_are_paddleclas():
    cfg = load_config(str(CONFIGS / 'hgnetv2' / 'hgnetv2-b4_8xb128_in1k.py'))
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.5, 0.9, 2e-5)
    assert cfg.train_dataloader.batch_size * 8 == cfg.auto_scale_lr.base_batch_size == 1024
    assert cfg.train_cfg.max_epochs == 200
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.end, cosine.type, cosine.begin, cosine.end, cosine.eta_min) == \
        ('LinearLR', 5, 'CosineAnnealingLR', 5, 200, 0.0)
    assert cfg.model.head.loss == dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original')
    ra = [t for t in cfg.train_pipeline if t.type == 'RandAugment'][0]
    assert (ra.magnitude_level, ra.magnitude_std, ra.num_policies, ra.policies) == \
        (7, 0.5, 2, 'timm_increasing')
    erase = [t for t in cfg.train_pipeline if t.type == 'RandomErasing'][0]
    assert erase.erase_prob == 0.25
    resize = [t for t in cfg.test_pipeline if t.type == 'ResizeEdge'][0]
    assert (resize.scale, resize.interpolation, cfg.test_pipeline[2].crop_size) == (232, 'bicubic', 224)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'


def test_optimizer_gives_lab_one_hundredth_lr_and_bn_no_decay():
    from mmengine.optim import build_optim_wrapper
    cfg = load_config(str(CONFIGS / 'hgnetv2' / 'hgnetv2-b0_8xb128_in1k.py'))
    cfg.optim_wrapper.type = 'OptimWrapper'  # AMP needs a GPU; the param groups are the same
    cfg.optim_wrapper.pop('loss_scale')
    model = build_model(cfg)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    seen = set()
    for group in optimizer.param_groups:
        for p in group['params']:
            name = names[id(p)]
            seen.add(name)
            if '.lab.' in name:
                assert group['lr'] == pytest.approx(0.5 * 0.01), name
                assert group['weight_decay'] == 2e-5, name  # Paddle decays LAB too
            elif '.bn.' in name:
                assert group['lr'] == 0.5 and group['weight_decay'] == 0.0, name
            else:  # conv weights, last_conv, fc weight and bias
                assert group['lr'] == 0.5 and group['weight_decay'] == 2e-5, name
    assert seen == set(names.values())
    assert any('head.lab.' in n for n in seen) and any('backbone.stem.stem1.lab.' in n for n in seen)


def test_finetune_configs_start_from_ssld_stage1_at_paddleclas_finetune_lr():
    cfg = load_config(str(CONFIGS / 'hgnetv2' / 'hgnetv2-b2_ssld-stage1-pre_8xb128-30e_in1k.py'))
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='ssld_stage1')
    assert cfg.optim_wrapper.optimizer.lr == 0.05 and cfg.train_cfg.max_epochs == 30
    assert cfg.param_scheduler[-1].end == 30


def test_stage2_eval_configs_load_paddleclas_weights_of_their_arch():
    for variant in CLASSIFIER_PARAMS_M:
        cfg = load_config(str(CONFIGS / 'hgnetv2' / f'hgnetv2-{variant}_3rdparty-ssld-stage2_in1k.py'))
        assert cfg.load_from == f'paddleclas://{variant.upper()}/ssld_stage2'
        assert cfg.test_pipeline[1].scale == 236  # PaddleClas's stage-2 evaluation resize
