"""The library as a user installs it: the wheel carries the configs, tools and model-index under
``hgnet_backbones/.mim``; installed into another environment, user configs build on ours and
``mim train`` runs our tiny config."""
import email
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]


def _files(folder: Path) -> set:
    return {str(p.relative_to(folder)) for p in folder.rglob('*')
            if p.is_file() and '__pycache__' not in p.parts}


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    # built from a copy of the files git sees (tracked, and new ones not ignored): a build/ folder of
    # the checkout would otherwise put modules since removed into the wheel
    source, out = tmp_path_factory.mktemp('source'), tmp_path_factory.mktemp('wheel')
    listed = subprocess.check_output(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
                                     cwd=REPO, text=True)
    for name in filter(None, set(listed.split('\0'))):
        if os.path.lexists(REPO / name):  # a deleted file git still tracks is not part of the tree
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name, follow_symlinks=False)  # .mim/ holds links
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                    '-w', str(out), str(source)], check=True, capture_output=True, timeout=600)
    [path] = out.glob('hgnet_backbones-*.whl')
    return path


@pytest.mark.slow
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


def _without_pythonpath() -> dict:
    """The environment variables, less those that would show the repository to another interpreter."""
    return {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'VIRTUAL_ENV')}


def _venv_with_wheel(wheel: Path, folder: Path, packages: str) -> Path:
    """A new virtual environment in ``folder`` holding the wheel (installed with --no-deps), that sees
    the packages of the folder ``packages`` through a .pth line (whose own .pth files do not run: an
    editable install of the repository there stays out): not the repository."""
    venv = folder / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True, timeout=300)
    python = venv / 'bin' / 'python'
    site = Path(subprocess.check_output(
        [str(python), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], text=True).strip())
    (site / 'other_packages.pth').write_text(packages + '\n')
    subprocess.run([sys.executable, '-m', 'pip', '--python', str(python), 'install', '-q', '--no-deps',
                    str(wheel)], check=True, capture_output=True, env=_without_pythonpath(), timeout=600)
    return python


@pytest.fixture(scope='module')
def user_env(wheel, tmp_path_factory) -> Path:
    """A virtual environment holding the wheel that sees all the project's other packages (torch,
    mmengine, mmdet, ...)."""
    return _venv_with_wheel(wheel, tmp_path_factory.mktemp('user'), sysconfig.get_paths()['purelib'])


def _in_user_env(python: Path, code: str, cwd: Path) -> str:
    env = _without_pythonpath()
    result = subprocess.run([str(python), '-c', textwrap.dedent(code)], capture_output=True, text=True,
                            cwd=cwd, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.slow
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
    env = _without_pythonpath()
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


# What every module of the wheel needs, tried in environments that hold only some distributions.
# Installing torch and the codebases afresh for each would take gigabytes: an environment here is a
# folder of symbolic links to the chosen distributions of this interpreter's site-packages (each one's
# files, as its RECORD lists them) and to those they require in turn (their markers evaluated for this
# platform), seen by a new virtual environment holding the wheel.

# Not declared by the wheel, since either of two distributions provides it (setup.cfg): mmcv or mmcv-lite.
MMCV = ('mmcv', 'mmcv-lite')
# The deploy extra holds mmdeploy's own dependencies: mmdeploy itself installs with --no-deps (setup.cfg).
WITHOUT_DEPS = {'deploy': ['mmdeploy']}
# What a module that needs an extra says when it is missing (hgnet_backbones.extras.needs_extra)
NAMES_EXTRA = re.compile(r"pip install 'hgnet_backbones\[(\w+)\]'")


def _wheel_requirements(wheel: Path) -> list:
    with zipfile.ZipFile(wheel) as z:
        [metadata] = [n for n in z.namelist() if n.endswith('.dist-info/METADATA')]
        message = email.message_from_bytes(z.read(metadata))
    return [Requirement(line) for line in message.get_all('Requires-Dist')]


def _closure(requirements: list, extras: tuple) -> dict:
    """name -> distribution of this interpreter, for ``requirements`` that apply without extras or
    with one of ``extras``, and everything they require in turn."""
    found, todo = {}, [(r, extras) for r in requirements]
    while todo:
        requirement, wanted = todo.pop()
        applies = requirement.marker is None or any(
            requirement.marker.evaluate({'extra': extra}) for extra in ('', *wanted))
        name = canonicalize_name(requirement.name)
        if not applies or name in found:
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # a platform's optional part this interpreter lacks: nothing to import from it
        found[name] = dist
        todo += [(Requirement(r), tuple(requirement.extras)) for r in dist.requires or ()]
    return found


def _link_folder(dists, folder: Path) -> str:
    """``folder`` with symbolic links to the files of ``dists``: a top-level folder several
    distributions share (a namespace package such as nvidia/) is a real folder of links."""
    site = Path(sysconfig.get_paths()['purelib'])
    for dist in dists:
        files = [Path(f) for f in dist.files if f.parts[0] != '..']  # not the scripts in bin/
        for top in {f.parts[0] for f in files}:
            shared = (site / top).is_dir() and Path(top, '__init__.py') not in files
            entries = {Path(*f.parts[:2]) for f in files if f.parts[0] == top} if shared else {Path(top)}
            for entry in entries:
                link = folder / entry
                if not link.exists():
                    link.parent.mkdir(parents=True, exist_ok=True)
                    link.symlink_to(site / entry)
    return str(folder)


IMPORT_EVERY_MODULE = """
    import importlib, importlib.util, json, sys
    from pathlib import Path
    root = Path(importlib.util.find_spec('hgnet_backbones').origin).parent
    names = sys.argv[1:] or sorted(
        '.'.join(('hgnet_backbones', *p.relative_to(root).with_suffix('').parts)).removesuffix('.__init__')
        for p in root.rglob('*.py') if not any(part.startswith('.') for part in p.relative_to(root).parts))
    errors = {}
    for name in names:
        try:
            importlib.import_module(name)
            errors[name] = None
        except Exception as e:
            errors[name] = f'{type(e).__name__}: {e}'
    print(json.dumps(dict(package=str(root), errors=errors)))
"""


def _import_modules(wheel: Path, folder: Path, dists, modules=()) -> dict:
    python = _venv_with_wheel(wheel, folder, _link_folder(dists, folder / 'packages'))
    env = _without_pythonpath()
    result = subprocess.run([str(python), '-c', textwrap.dedent(IMPORT_EVERY_MODULE), *modules],
                            capture_output=True, text=True, cwd=folder, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out['package'].startswith(str(folder)) and str(REPO) not in out['package']
    return out['errors']


@pytest.mark.slow
def test_every_module_of_the_wheel_imports_with_its_declared_dependencies_or_names_its_extra(
        wheel, tmp_path):
    requirements = _wheel_requirements(wheel)
    declared = {e for r in requirements if r.marker for e in re.findall(r'extra == "(\w+)"', str(r.marker))}
    installed = {canonicalize_name(d.metadata['Name']) for d in importlib.metadata.distributions()}
    [mmcv] = [name for name in MMCV if name in installed]
    base = [r for r in requirements if r.marker is None] + [Requirement(mmcv)]

    errors = _import_modules(wheel, tmp_path / 'base', _closure(base, ()).values())
    in_wheel = {n[:-3].replace('/', '.').removesuffix('.__init__') for n in zipfile.ZipFile(wheel).namelist()
                if n.endswith('.py') and '/.' not in n}
    assert set(errors) == in_wheel  # every module of the wheel was tried

    problems, needing = [], {}
    for module, error in errors.items():
        if error is None:
            continue
        extra = NAMES_EXTRA.search(error)
        if extra is None or extra[1] not in declared:
            problems.append(f'{module} fails with the declared dependencies and names no extra: {error}')
        else:
            needing.setdefault(extra[1], []).append(module)
    # scikit-image is no dependency of the package: the tiny data says which extra brings it
    assert 'hgnet_backbones.tiny_data' in needing.get('demo', []), errors['hgnet_backbones.tiny_data']

    for extra, modules in needing.items():
        dists = {**_closure(base, ()), **_closure([r for r in requirements if r.marker], (extra,)),
                 **{name: importlib.metadata.distribution(name) for name in WITHOUT_DEPS.get(extra, [])}}
        with_extra = _import_modules(wheel, tmp_path / extra, dists.values(), modules)
        problems += [f'{module} fails with the {extra!r} extra installed: {error}'
                     for module, error in with_extra.items() if error is not None]
    assert not problems, '\n'.join(problems)
