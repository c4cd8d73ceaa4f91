"""The table of adaptations (hgnet_backbones.compat.ADAPTATIONS) lists every one, each complete, and
the patches of mmdeploy and torch apply only while an export or a backend model needs them."""
import importlib
import inspect
import subprocess
import sys
import textwrap

import pytest

from hgnet_backbones.compat import ADAPTATIONS

FIELDS = {'name', 'library', 'why', 'where', 'removed_by'}


def test_every_adaptation_says_its_library_why_where_and_what_removes_it():
    assert len(ADAPTATIONS) >= 10
    for row in ADAPTATIONS:
        assert set(row) == FIELDS and all(isinstance(v, str) and v.strip() for v in row.values()), row
    names = [row['name'] for row in ADAPTATIONS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize('module', ['mmengine', 'mmpretrain', 'mmdeploy'])
def test_every_public_function_of_a_compat_module_is_in_the_table(module):
    if module != 'mmengine':
        pytest.importorskip(module)
    mod = importlib.import_module(f'hgnet_backbones.compat.{module}')
    functions = [name for name, f in vars(mod).items()
                 if inspect.isfunction(f) and f.__module__ == mod.__name__ and not name.startswith('_')]
    where = ' '.join(row['where'] for row in ADAPTATIONS)
    # a function is named in a row, or is a part of one that is
    named = [name for name in functions if name in where]
    assert named, functions
    helpers = {'package_config_path', 'register_when_imported', 'register_mmpretrain_models',
               'mmdeploy_rewriters'}
    assert set(functions) - set(named) <= helpers, sorted(set(functions) - set(named) - helpers)


def test_importing_deploy_registers_no_rewriter_and_patches_nothing():
    pytest.importorskip('mmdeploy')
    code = textwrap.dedent("""
        import torch
        from mmdeploy.codebase.base.backend_model import BaseBackendModel
        from mmdeploy.core import FUNCTION_REWRITER
        def state():
            records = FUNCTION_REWRITER._registry._rewrite_records
            ours = [r['_object'].__module__ for rs in records.values() for r in rs
                    if r['_object'].__module__.startswith('hgnet_backbones')]
            return ours, torch.onnx.export, BaseBackendModel.__dict__['_build_wrapper']
        before = state()
        import hgnet_backbones.deploy
        from hgnet_backbones.compat.mmdeploy import mmdeploy_export
        after_import = state()
        with mmdeploy_export():
            during = state()
        after = state()
        print(before == after_import == after, before[0], len(during[0]), during[1] is before[1])
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    unchanged, ours_before, ours_during, same_export = out.stdout.split()[-4:]
    assert unchanged == 'True' and ours_before == '[]'
    # the pooling and both deformable-attention rewriters, TorchScript export
    assert ours_during == '3' and same_export == 'False'
