"""Configs: --cfg-options keys are checked, and user configs build on ours as hgnet_backbones::path."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hgnet_backbones.apis.config import build_model, load_config

REPO = Path(__file__).resolve().parents[2]
TINY_CLS = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')
RETINANET = str(REPO / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py')


@pytest.mark.parametrize('key,match', [
    ('train_cfg.max_epoch', r"train_cfg has no key 'max_epoch'; did you mean max_epochs"),
    ('max_epochs', "the config has no key 'max_epochs'"),
    ('model.backbone.arc', "model.backbone has no key 'arc'; did you mean arch"),
    ('optim_wrapper.optimizer.momentun', "optim_wrapper.optimizer has no key 'momentun'; did you mean "
                                         "momentum"),
])
def test_unknown_cfg_option_is_refused_naming_the_key(key, match):
    with pytest.raises(KeyError, match=f'--cfg-options {key}: {match}'):
        load_config(TINY_CLS, {key: 1})


def test_cfg_options_may_set_arguments_the_config_leaves_at_their_defaults():
    cfg = load_config(TINY_CLS, {
        'randomness.seed': 3,  # a Runner argument
        'model.backbone.init_cfg.type': 'Pretrained',  # HGNetV2 takes init_cfg
        'model.backbone.init_cfg.checkpoint': 'x.pdparams',
        'optim_wrapper.optimizer.nesterov': True,  # torch's SGD takes nesterov
        'train_cfg.max_epochs': 2,
    })
    assert cfg.randomness.seed == 3 and cfg.train_cfg.max_epochs == 2
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint='x.pdparams')
    assert cfg.optim_wrapper.optimizer.nesterov is True


def test_user_config_inherits_ours_as_hgnet_backbones_path(tmp_path):
    user = tmp_path / 'my_retinanet.py'
    user.write_text(textwrap.dedent("""
        _base_ = 'hgnet_backbones::retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py'
        model = dict(backbone=dict(arch='B1'), bbox_head=dict(num_classes=3))
    """))
    cfg = load_config(str(user))
    model = build_model(cfg)
    assert type(model).__name__ == 'RetinaNet' and model.backbone.arch_name == 'B1'
    assert model.bbox_head.num_classes == 3
    assert model.neck.in_channels == [64, 256, 512, 1024]  # from our config


def test_package_prefix_is_resolved_only_while_loading():
    # mmengine's table of config packages is left as it was: nothing patched for the process
    code = textwrap.dedent(f"""
        from mmengine.config import utils
        before = dict(utils.MODULE2PACKAGE)
        from hgnet_backbones.apis.config import load_config
        load_config({RETINANET!r})
        print(before == utils.MODULE2PACKAGE and 'hgnet_backbones' not in utils.MODULE2PACKAGE)
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == 'True', out.stderr[-2000:]
