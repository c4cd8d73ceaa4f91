"""``torch.compile`` through mmengine's runner (``cfg.compile``) with HGNetV2: a short training run in
each codebase gives the losses of the same run in eager mode.

The runs use the ``aot_eager`` backend: TorchDynamo captures ``train_step`` and AOTAutograd its
backward, as with Inductor, without Inductor's C++ code generation (minutes per graph on 2 cores).
Inductor itself runs in the benchmark's 'ours compile' training paths, which check its output and
gradients against eager mode before timing them."""
from pathlib import Path

import pytest
import torch

from hgnet_backbones import HGNetV2
from hgnet_backbones.apis import train
from hgnet_backbones.tiny_data import make_tiny_ade20k, make_tiny_coco, make_tiny_imagenet

REPO = Path(__file__).resolve().parents[2]
COMPILE = dict(backend='aot_eager')


@pytest.mark.parametrize('norm_eval', [False, True])
def test_backbone_compiles_to_one_graph_in_training(norm_eval):
    model = HGNetV2(arch='B0', out_indices=(0, 1, 2, 3), norm_eval=norm_eval).train()
    explanation = torch._dynamo.explain(model)(torch.randn(2, 3, 64, 64))
    assert explanation.graph_break_count == 0, explanation.break_reasons
    assert explanation.graph_count == 1


def test_cfg_options_take_compile_which_the_runner_reads_from_the_config():
    from hgnet_backbones.apis.config import check_cfg_options, load_config
    cfg = load_config(str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py'))
    check_cfg_options(cfg, {'compile': True, 'compile.backend': 'inductor'})
    with pytest.raises(KeyError, match='compil'):
        check_cfg_options(cfg, {'compil': True})


def _losses(config: str, work_dir: Path, options: dict, compile_cfg=None) -> list:
    """The loss of each iteration of a short run of ``config``."""
    options = dict(options, **{'randomness.seed': 0, 'default_hooks.logger.interval': 1})
    if compile_cfg is not None:
        options['compile'] = compile_cfg
    runner = train(config, work_dir=str(work_dir), cfg_options=options, no_validate=True)
    if compile_cfg is not None:  # mmengine swapped train_step for its compiled version
        assert hasattr(runner.model.train_step, '_torchdynamo_orig_callable')
    values, _ = runner.message_hub.get_scalar('train/loss').data
    return [float(v) for v in values]


def _check_same_losses(config, tmp_path, options):
    from hgnet_backbones.models import fast_paths
    # the eager reference in NCHW, the layout the compiled graph computes in: eager training on a CPU
    # computes in channels_last, whose float32 BatchNorm rounds differently, and AdamW's first update
    # (about lr * sign(grad)) turns that rounding in a near-zero gradient into a full step (measured:
    # the second mmseg loss 4e-4 apart). Its gradients are checked in float64 in test_hgnetv2.py.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast_paths, 'ONEDNN_DTYPES', ())
        eager = _losses(config, tmp_path / 'eager', options)
    compiled = _losses(config, tmp_path / 'compiled', options, COMPILE)
    assert len(eager) == len(compiled) >= 2
    for a, b in zip(eager, compiled):  # the first before any update, the next after one
        assert abs(a - b) <= 1e-4 * abs(a), (eager, compiled)


@pytest.mark.slow
def test_mmpretrain_training_compiled_through_cfg_compile_gives_eager_losses(tmp_path):
    root = tmp_path / 'data'
    make_tiny_imagenet(root, num_train=2, num_val=1)  # 10 training images: 2 iterations of 8
    options = {'train_cfg.max_epochs': 1, 'train_dataloader.dataset.data_root': str(root),
               'train_dataloader.dataset.classes': f'{root}/classes.txt'}
    _check_same_losses(str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py'), tmp_path, options)


@pytest.mark.slow
def test_mmdet_training_compiled_through_cfg_compile_gives_eager_losses(tmp_path):
    root = tmp_path / 'data'
    make_tiny_coco(root, num_train=8, num_val=1)  # 2 iterations of 4
    options = {'train_cfg.max_epochs': 1, 'train_dataloader.dataset.data_root': f'{root}/',
               # the mmdet configs' frozen BN statistics and stem
               'model.backbone.norm_eval': True, 'model.backbone.frozen_stages': 0}
    _check_same_losses(str(REPO / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py'),
                       tmp_path, options)


@pytest.mark.slow
def test_mmseg_training_compiled_through_cfg_compile_gives_eager_losses(tmp_path):
    root = tmp_path / 'data'
    make_tiny_ade20k(root, num_train=8, num_val=1)
    options = {'train_cfg.max_iters': 2, 'train_dataloader.dataset.data_root': str(root),
               'custom_hooks': []}
    _check_same_losses(
        str(REPO / 'configs/upernet/upernet_hgnetv2-b0_1xb4-300iter_tiny-ade20k-128x128.py'),
        tmp_path, options)
