"""The loaders mmengine calls: what import registers, and what the explicit opt-in changes."""
import subprocess
import sys
import textwrap

import torch

from payload import Payload


def _pdparams(fixtures, arch):
    return str(fixtures / f'PPHGNetV2_{arch}.pdparams')


def test_mmengine_load_checkpoint_takes_pdparams(paddle_fixtures):
    from mmengine.runner.checkpoint import _load_checkpoint
    ckpt = _load_checkpoint(_pdparams(paddle_fixtures, 'B4'), map_location='cpu')
    assert ckpt['meta']['arch'] == 'B4'
    assert ckpt['state_dict']['head.fc.weight'].shape == (1000, 2048)
    assert 'backbone.stages.3.blocks.0.aggregation_excitation_conv.bn.running_var' in ckpt['state_dict']


def test_pdparams_url_goes_to_our_loader_and_other_urls_to_mmengines(http_server, paddle_fixtures,
                                                                    torch_home):
    from mmengine.runner.checkpoint import CheckpointLoader, load_from_http
    from hgnet_backbones.weights.mmengine import load_from_pdparams
    assert CheckpointLoader._get_checkpoint_loader('https://x/y/PPHGNetV2_B0.pdparams') is \
        load_from_pdparams
    assert CheckpointLoader._get_checkpoint_loader('https://x/y/model.pth') is load_from_http
    http_server.routes['/PPHGNetV2_B0.pdparams'] = open(_pdparams(paddle_fixtures, 'B0'), 'rb').read()
    ckpt = CheckpointLoader.load_checkpoint(http_server.url('/PPHGNetV2_B0.pdparams'))
    assert ckpt['meta']['arch'] == 'B0'


def test_safe_loading_opt_in_refuses_a_pickle_url_and_runs_nothing(http_server, tmp_path):
    # in a fresh interpreter: the opt-in changes mmengine's loaders for the whole process
    target = tmp_path / 'pwned.txt'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Payload(str(target))}, evil)
    http_server.routes['/evil.pth'] = evil.read_bytes()
    code = textwrap.dedent(f"""
        import os
        os.environ['TORCH_HOME'] = {str(tmp_path / 'home')!r}
        import hgnet_backbones
        from mmengine.runner.checkpoint import CheckpointLoader
        hgnet_backbones.use_safe_checkpoint_loading()
        for source in ({http_server.url('/evil.pth')!r}, {str(evil)!r}):
            try:
                CheckpointLoader.load_checkpoint(source)
            except hgnet_backbones.CheckpointError as e:
                print('refused', source, str(e).splitlines()[0][:60])
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.stdout.count('refused') == 2, out.stdout + out.stderr[-2000:]
    assert not target.exists()


def test_mmengine_logs_our_loaders_by_their_backend_names(paddle_fixtures, tmp_path):
    # in a fresh interpreter: the opt-in changes mmengine's loaders for the whole process
    pdparams = _pdparams(paddle_fixtures, 'B0')
    pth = tmp_path / 'plain.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}}, pth)
    log_file = tmp_path / 'load.log'
    code = textwrap.dedent(f"""
        import hgnet_backbones
        from mmengine.logging import MMLogger
        from mmengine.runner.checkpoint import CheckpointLoader
        logger = MMLogger.get_instance('loaders', log_file={str(log_file)!r})
        CheckpointLoader.load_checkpoint({pdparams!r}, logger=logger)
        hgnet_backbones.use_safe_checkpoint_loading()
        CheckpointLoader.load_checkpoint({str(pth)!r}, logger=logger)
    """)
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    log = log_file.read_text()
    assert f'Loads checkpoint by pdparams backend from path: {pdparams}' in log
    assert f'Loads checkpoint by safe_local backend from path: {pth}' in log
