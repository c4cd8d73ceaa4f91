"""The library as a user installs it: the wheel carries the configs, tools and model-index under
``hgnet_backbones/.mim``; installed into another environment, user configs build on ours and
``mim train`` runs our tiny config."""
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob('*')
            if p.is_file() and '__pycache__' not in p.parts}


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                    '-w', str(out), str(REPO)], check=True, capture_output=True, timeout=600)
    [path] = out.glob('hgnet_backbones-*.whl')
    return path


def test_wheel_carries_every_config_tool_and_the_model_index_under_mim(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    mim = 'hgnet_backbones/.mim/'
    assert {n[len(mim + 'configs/'):] for n in names if n.startswith(mim + 'configs/')} == \
        _files(REPO / 'configs')
    assert {n[len(mim + 'tools/'):] for n in names if n.startswith(mim + 'tools/')} == \
        _files(REPO / 'tools')
    assert mim + 'model-index.yml' in names
    assert 'hgnet_backbones/weights/fetch.py' in names
    assert not [n for n in names if n.startswith('tests/') or n.endswith('.pyc')]


@pytest.fixture(scope='module')
def user_env(wheel, tmp_path_factory) -> Path:
    """A new virtual environment holding the wheel (installed with --no-deps), that sees the
    project's other packages (torch, mmengine, mmdet, ...) through a .pth line: not the repository."""
    venv = tmp_path_factory.mktemp('user') / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=300)
    python = venv / 'bin' / 'python'
    site = Path(subprocess.check_output(
        [str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True).strip())
    (site / 'project_packages.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    subprocess.run([sys.executable, '-m', 'pip', '--python', str(python), 'install', '-q', '--no-deps',
                    str(wheel)], check=True, capture_output=True, timeout=600)
    return python


def _in_user_env(python: Path, code: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    result = subprocess.run([str(python), '-c', textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=cwd, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_user_config_inheriting_our_retinanet_builds_a_detector(user_env, tmp_path):
    config = tmp_path / 'my_retinanet.py'
    config.write_text(textwrap.dedent("""
        _base_ = 'hgnet_backbones::retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py'
        model = dict(bbox_head=dict(num_classes=3))
    """))
    out = _in_user_env(user_env, f"""
        import hgnet_backbones
        from hgnet_backbones.apis import build_model, load_config
        cfg = load_config({str(config)!r})
        model = build_model(cfg)
        print(hgnet_backbones.__file__)
        print(type(model).__name__, model.backbone.arch_name, model.bbox_head.num_classes)
    """, cwd=tmp_path)
    package_file, built = out.strip().splitlines()[-2:]
    assert package_file.startswith(str(user_env.parents[1])) and str(REPO) not in package_file
    assert built == 'RetinaNet B0 3'


@pytest.mark.slow
def test_mim_train_runs_our_tiny_detector_config_from_the_wheel(user_env, tmp_path):
    from hgnet_backbones.tiny_data import make_tiny_coco
    make_tiny_coco(tmp_path / 'data' / 'tiny_coco')  # where the tiny config looks, from the cwd
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}
    result = subprocess.run(
        [str(user_env), '-m', 'mim', 'train', 'hgnet_backbones', 'retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py',
         '--work-dir', str(tmp_path / 'work'), '--cfg-options', 'train_cfg.max_epochs=1',
         'randomness.seed=0'], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=900)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    # mim found the config and the train tool in the installed wheel, not in the repository
    [command] = [line for line in log.splitlines() if line.startswith('Training command is')]
    assert f'{user_env.parents[1]}' in command and '/.mim/tools/train.py' in command
    assert str(REPO) not in command
    assert (tmp_path / 'work' / 'epoch_1.pth').is_file()
    assert 'coco/bbox_mAP' in log
