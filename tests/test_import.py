"""``import hgnet_backbones`` registers this package's modules and checkpoint schemes and changes
nothing else in other libraries; the named opt-in changes what it says. Each check runs in a fresh
interpreter, so that nothing another test imported or changed can hide a side effect."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# What a snapshot records: mmengine's and torch's globals that a package could change at import.
SNAPSHOT = """
import json, sys
def snapshot():
    import torch, mmengine.config.utils as cfg_utils
    from mmengine.fileio.backends import LocalBackend
    from mmengine.logging import HistoryBuffer
    from mmengine.registry import HOOKS, MODELS
    from mmengine.runner.checkpoint import CheckpointLoader
    def name(f):
        return f'{f.__module__}.{f.__qualname__}'
    return dict(
        safe_globals=sorted(map(str, getattr(torch.serialization, 'get_safe_globals', list)())),
        local_put=name(LocalBackend.put),
        history_buffer=[name(HistoryBuffer.__getstate__), name(HistoryBuffer.__setstate__)],
        history_statistics=sorted(HistoryBuffer._statistics_methods),
        checkpoint_schemes={p: name(f) for p, f in CheckpointLoader._schemes.items()},
        module2package=sorted(cfg_utils.MODULE2PACKAGE),
        onnx_export=name(torch.onnx.export),
        torch_load=name(torch.load),
        models=sorted(MODELS.module_dict), hooks=sorted(HOOKS.module_dict),
        meta_path=[type(f).__name__ for f in sys.meta_path],
        codebases=sorted(m for m in ('mmpretrain', 'mmdet', 'mmseg', 'mmdeploy', 'transformers', 'timm')
                         if m in sys.modules))
"""


def _run(body: str) -> dict:
    code = SNAPSHOT + textwrap.dedent(body)
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def _changes(before: dict, after: dict) -> dict:
    changed = {}
    for key in before:
        if before[key] == after[key]:
            continue
        if isinstance(before[key], dict):
            changed[key] = {k: after[key].get(k) for k in set(before[key]) | set(after[key])
                            if before[key].get(k) != after[key].get(k)}
        else:
            changed[key] = dict(added=sorted(set(after[key]) - set(before[key])),
                                removed=sorted(set(before[key]) - set(after[key])))
    return changed


OURS = 'hgnet_backbones.weights.mmengine.load_from_pdparams'


def test_import_only_registers_modules_and_checkpoint_schemes():
    out = _run("""
        import mmcv.cnn  # what the package needs registers its own modules first
        before = snapshot()
        import hgnet_backbones
        print(json.dumps(dict(before=before, after=snapshot())))
    """)
    changes = _changes(out['before'], out['after'])
    assert changes == {
        # new schemes only: no loader of mmengine's is replaced
        'checkpoint_schemes': {r'.*\.pdparams$': OURS, r'https?://.*\.pdparams$': OURS,
                               'paddleclas://': OURS},
        # HGNetv2: RT-DETR's and D-FINE's class name, PPHGNetV2 PaddleDetection's, so that their
        # backbone dicts build as written
        'models': dict(added=['HGNetV2', 'HGNetv2', 'PPHGNetV2'], removed=[]),
        'hooks': dict(added=['EagerOptimizerStepHook', 'SafeCheckpointHook', 'ValidateBeforeTrainingHook'], removed=[]),
        # mmpretrain's head and model names register once the user imports mmpretrain (see below)
        'meta_path': dict(added=['_AfterImport'], removed=[]),
    }
    # no codebase imported: mmengine's optimizer builder (which mmcv.cnn imports) imports transformers,
    # where it is installed, to register its Adafactor; nothing is added to that
    assert set(out['after']['codebases']) <= {'transformers'}
    assert out['after']['codebases'] == out['before']['codebases']


def test_safe_loading_opt_in_replaces_mmengines_local_and_http_loaders_only():
    out = _run("""
        import hgnet_backbones
        before = snapshot()
        hgnet_backbones.use_safe_checkpoint_loading()
        print(json.dumps(dict(before=before, after=snapshot())))
    """)
    assert _changes(out['before'], out['after']) == {'checkpoint_schemes': {
        '': 'hgnet_backbones.weights.mmengine.load_from_safe_local',
        'http://': 'hgnet_backbones.weights.mmengine.load_from_safe_http',
        'https://': 'hgnet_backbones.weights.mmengine.load_from_safe_http'}}


@pytest.mark.parametrize('order', ['ours first', 'mmpretrain first'])
def test_mmpretrain_gets_the_head_and_model_names_whatever_the_import_order(order):
    pytest.importorskip('mmpretrain')
    imports = ['import hgnet_backbones', 'import mmpretrain']
    if order == 'mmpretrain first':
        imports.reverse()
    out = _run('\n'.join(imports) + textwrap.dedent("""
        from mmpretrain import list_models
        from mmpretrain.registry import MODELS
        print(json.dumps(dict(names=list_models('hgnetv2*'), head=MODELS.get('HGNetV2ClsHead').__name__,
                              after=snapshot())))
    """))
    assert 'hgnetv2-b4_3rdparty-ssld-stage2_in1k' in out['names']
    assert len(out['names']) == 14  # B0-B6, stage 1 and stage 2 (configs/hgnetv2/metafile.yml)
    assert out['head'] == 'HGNetV2ClsHead'
    assert '_AfterImport' not in out['after']['meta_path']  # it leaves once it has run


def test_import_needs_no_codebase_and_no_compiled_op():
    out = _run("""
        for name in ('mmpretrain', 'mmdet', 'mmseg', 'mmdeploy', 'transformers', 'timm', 'mmcv.ops'):
            sys.modules[name] = None  # any import of them now raises ImportError
        import hgnet_backbones
        from mmengine.registry import MODELS
        model = MODELS.build(dict(type='HGNetV2', arch='B1'))
        print(json.dumps(dict(model=type(model).__name__)))
    """)
    assert out == {'model': 'HGNetV2'}


def test_get_model_builds_our_classifier_with_weights_from_our_loader(http_server, paddle_fixtures,
                                                                       torch_home):
    pytest.importorskip('mmpretrain')
    # the local server stands in for PaddleClas's folder: it holds the oracle's B0 classifier under
    # the file name of the published stage-2 weights, which the metafile's URL names
    http_server.routes['/PPHGNetV2_B0_ssld_pretrained.pdparams'] = \
        (paddle_fixtures / 'PPHGNetV2_B0.pdparams').read_bytes()
    out = _run(f"""
        import os
        os.environ['HGNET_WEIGHTS_MIRROR'] = {http_server.base!r}
        os.environ['TORCH_HOME'] = {str(torch_home)!r}
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        import hgnet_backbones
        from mmpretrain import get_model
        from parity import oracle_errors
        model = get_model('hgnetv2-b0_3rdparty-ssld-stage2_in1k', pretrained=True).eval()
        errors = oracle_errors(model, {str(paddle_fixtures / 'PPHGNetV2_B0_io.npz')!r})
        print(json.dumps(dict(errors=errors, type=type(model).__name__)))
    """)
    assert out['type'] == 'ImageClassifier'
    assert set(out['errors']) == {'x224', 'x250x330'}
    for tag, maps in out['errors'].items():
        assert maps['logits'] <= 1e-3 and maps['stage4'] <= 1e-3, (tag, maps)  # float32 bounds
    assert http_server.requests == ['/PPHGNetV2_B0_ssld_pretrained.pdparams']
