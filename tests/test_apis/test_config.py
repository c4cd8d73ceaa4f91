"""Configs: --cfg-options keys are checked, and user configs build on ours as hgnet_backbones::path,
in every tool, however this package is installed."""
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hgnet_backbones.apis.config import build_model, load_config

REPO = Path(__file__).resolve().parents[2]
TINY_CLS = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')
RETINANET = str(REPO / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py')
DEPLOY_CFG = str(REPO / 'configs/deploy/classification_onnxruntime_dynamic.py')


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
    # mmengine's table of config packages and its base resolver are left as they were: nothing
    # patched for the process
    code = textwrap.dedent(f"""
        from mmengine.config import Config, utils
        before = dict(utils.MODULE2PACKAGE), Config.__dict__['_get_cfg_path']
        from hgnet_backbones.apis.config import load_config
        load_config({RETINANET!r})
        after = dict(utils.MODULE2PACKAGE), Config.__dict__['_get_cfg_path']
        print(before == after and 'hgnet_backbones' not in utils.MODULE2PACKAGE)
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == 'True', out.stderr[-2000:]


def test_package_prefix_resolves_from_the_imported_package_not_the_install_folder(tmp_path):
    # an editable install (the repository's own environment) keeps only its finder in site-packages;
    # mmengine 0.10.7 would look for .mim/ there. Here the package comes from PYTHONPATH, which must
    # work the same, whatever distribution of it the environment also holds.
    user = tmp_path / 'my_classifier.py'
    user.write_text("_base_ = 'hgnet_backbones::hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py'\n")
    code = textwrap.dedent(f"""
        import hgnet_backbones
        from hgnet_backbones.apis import load_config
        cfg = load_config({str(user)!r})
        print(hgnet_backbones.__file__, cfg.model.backbone.arch)
    """)
    env = dict(__import__('os').environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    package_file, arch = out.stdout.split()[-2:]
    assert package_file == str(REPO / 'hgnet_backbones/__init__.py') and arch == 'B0'


# Each tool's own path from its arguments to the loaded config, stopped where the work would start.
class ConfigLoaded(Exception):
    def __init__(self, cfg):
        super().__init__('config loaded')
        self.cfg = cfg


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(f'hgnet_tool_{name}', REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stop_at_runner(monkeypatch):
    from hgnet_backbones.apis import runner

    def build_runner(cfg):
        raise ConfigLoaded(cfg)
    monkeypatch.setattr(runner, 'build_runner', build_runner)


def _stop_at_infer(monkeypatch, tool):
    def infer(image_or_dir, cfg, *args, **kwargs):
        raise ConfigLoaded(cfg)
    monkeypatch.setattr(tool, 'infer', infer)


def _stop_at_deploy_pipeline(monkeypatch):
    from hgnet_backbones.deploy import pipeline, quantize

    def export_onnx(deploy_cfg, model_cfg, *args):
        raise ConfigLoaded(model_cfg)

    def build_pytorch_model(model_cfg, *args):
        raise ConfigLoaded(model_cfg)
    # the pipeline (deploy, deploy_test) and quantization (quantize) export and build the reference
    for module in (pipeline, quantize):
        monkeypatch.setattr(module, 'export_onnx', export_onnx)
        monkeypatch.setattr(module, 'build_pytorch_model', build_pytorch_model)


@pytest.fixture
def user_config(tmp_path) -> Path:
    """A user's config in a folder of their own, built on our tiny classifier config."""
    path = tmp_path / 'user' / 'my_classifier.py'
    path.parent.mkdir()
    path.write_text(textwrap.dedent("""
        _base_ = 'hgnet_backbones::hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py'
        model = dict(head=dict(num_classes=3))
    """))
    return path


@pytest.fixture
def images(tmp_path) -> Path:
    import mmcv
    import numpy as np
    folder = tmp_path / 'images'
    mmcv.imwrite(np.zeros((40, 48, 3), np.uint8), str(folder / 'a.jpg'))
    return folder


TOOLS = {
    'train': (_stop_at_runner, lambda cfg, d: [cfg, '--work-dir', f'{d}/work']),
    'test': (_stop_at_runner, lambda cfg, d: [cfg, 'weights.pth', '--work-dir', f'{d}/work']),
    'infer': (_stop_at_infer, lambda cfg, d: [f'{d}/images', cfg, 'weights.pth']),
    'deploy': (_stop_at_deploy_pipeline,
               lambda cfg, d: [DEPLOY_CFG, cfg, 'weights.pth', f'{d}/images/a.jpg', '--work-dir',
                               f'{d}/work']),
    'deploy_test': (_stop_at_deploy_pipeline,
                    lambda cfg, d: [DEPLOY_CFG, cfg, 'weights.pth', '--onnx', f'{d}/end2end.onnx',
                                    '--work-dir', f'{d}/work']),
    'quantize': (_stop_at_deploy_pipeline,
                 lambda cfg, d: [DEPLOY_CFG, cfg, 'weights.pth', f'{d}/images', f'{d}/images',
                                 '--work-dir', f'{d}/work']),
}


@pytest.mark.parametrize('name', sorted(TOOLS))
def test_each_tool_loads_a_user_config_built_on_ours(name, user_config, images, tmp_path,
                                                     monkeypatch, codebases):
    if name.startswith(('deploy', 'quantize')):
        pytest.importorskip('mmdeploy', reason='the deploy extra is not installed')
    tool = _tool(name)
    stop, argv = TOOLS[name]
    stop(monkeypatch, *([tool] if stop is _stop_at_infer else []))
    with pytest.raises(ConfigLoaded) as loaded:
        tool.main(argv(str(user_config), str(tmp_path)))
    cfg = loaded.value.cfg
    assert cfg.filename == str(user_config)
    assert cfg.model.head.num_classes == 3  # the user's
    assert cfg.model.backbone.type == 'HGNetV2' and cfg.model.backbone.arch == 'B0'  # ours
