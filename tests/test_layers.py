"""The package's layers point one way: the model layer knows nothing of checkpoint files, URLs or
the applications above it. Read from the source (every import, those inside functions too), so an
import added anywhere is seen without running it."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / 'hgnet_backbones'
# the one documented call from the model layer into the weights layer: a backbone's init_weights
# loads its pretrained weights (HGNetV2.init_weights -> weights.load.load_pretrained_backbone)
ALLOWED = {('hgnet_backbones/models/hgnetv2.py', 'init_weights', 'hgnet_backbones.weights.load')}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def package_imports(place: str):
    """``(file, enclosing function or None, imported module)`` for every import in ``place`` (a folder
    or a file of the package), relative imports resolved; ``from . import x`` gives ``package.x``."""
    found = []
    paths = [PACKAGE / place] if place.endswith('.py') else sorted((PACKAGE / place).rglob('*.py'))
    for path in paths:
        module = _module_name(path)
        package = module if path.name == '__init__.py' else module.rpartition('.')[0]
        tree = ast.parse(path.read_text(encoding='utf-8'))
        owners = {}
        for fn in ast.walk(tree):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    owners.setdefault(id(node), fn.name)  # the innermost function is walked last
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    anchor = package.split('.')[:len(package.split('.')) - node.level + 1]
                    base = '.'.join(anchor + ([base] if base else []))
                targets = [base] if node.module else [f'{base}.{a.name}' for a in node.names]
            else:
                continue
            rel = str(path.relative_to(PACKAGE.parent))
            found += [(rel, owners.get(id(node)), target) for target in targets]
    return found


def test_import_scan_sees_imports_inside_functions_and_relative_ones():
    """The scan itself: it finds the allowed call (inside a method, relative) and the models
    package's own relative imports, so the assertions below cannot pass over an empty scan."""
    imports = package_imports('models')
    assert ('hgnet_backbones/models/hgnetv2.py', 'init_weights', 'hgnet_backbones.weights.load') \
        in imports
    assert ('hgnet_backbones/models/ports.py', None, 'hgnet_backbones.models.hgnetv2') in imports


def test_models_import_nothing_from_weights_but_the_documented_init_weights_call():
    imports = package_imports('models')
    assert imports
    bad = [(f, fn, m) for f, fn, m in imports
           if m.startswith('hgnet_backbones.weights') and (f, fn, m) not in ALLOWED]
    assert not bad, f'the model layer imports the weights layer: {bad}'


@pytest.mark.parametrize('folder,above', [
    ('models', ('hgnet_backbones.apis', 'hgnet_backbones.deploy', 'hgnet_backbones.tools')),
    ('weights', ('hgnet_backbones.apis', 'hgnet_backbones.deploy', 'hgnet_backbones.tools')),
])
def test_library_layers_import_no_application_above_them(folder, above):
    imports = package_imports(folder)
    assert imports
    bad = [(f, fn, m) for f, fn, m in imports if m.startswith(above)]
    assert not bad, f'{folder} imports the applications above it: {bad}'


def test_registry_holds_registries_only_and_imports_no_model():
    """Every module registers through registry.py; a registry that imported a model would close a
    circle (it did: the mmpretrain head)."""
    imports = package_imports('registry.py')
    assert ('hgnet_backbones/registry.py', None, 'mmengine.registry') in imports
    assert not [m for _, _, m in imports if m.startswith('hgnet_backbones')]
