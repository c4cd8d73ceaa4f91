"""tools/convert_detector.py: prints the layout, variant, tensors written and the config to use, and
refuses a file of another layout with the converter's message."""
import pickle
import subprocess
import sys
from pathlib import Path

import torch

from detector_releases import rtdetr_paddle_state, rtdetr_pytorch_state, rtdetr_release

REPO = Path(__file__).resolve().parents[2]


def _convert(src, dst):
    return subprocess.run([sys.executable, str(REPO / 'tools/convert_detector.py'), str(src), str(dst)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)


def test_tool_converts_a_paddle_rtdetr_l_and_names_its_config(tmp_path):
    src = tmp_path / 'rtdetr_hgnetv2_l_6x_coco.pdparams'
    src.write_bytes(pickle.dumps(rtdetr_paddle_state(rtdetr_pytorch_state('l')), protocol=4))
    result = _convert(src, tmp_path / 'rtdetr_l.pth')
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith('layout: rtdetr_paddle (')
    assert lines[1] == 'variant: l, 80 classes'
    written = torch.load(tmp_path / 'rtdetr_l.pth', weights_only=True)['state_dict']
    assert lines[2] == f'{tmp_path / "rtdetr_l.pth"}: {len(written)} tensors written; 0 left out'
    assert lines[3] == 'config: configs/rtdetr/rtdetr_hgnetv2-l_release_coco.py'


def test_tool_refuses_a_bare_backbone_naming_what_it_looks_like(tmp_path):
    src = tmp_path / 'backbone.pth'
    state = rtdetr_pytorch_state('l')
    torch.save({k: v for k, v in state.items() if k.startswith('backbone.')}, src)
    result = _convert(src, tmp_path / 'out.pth')
    assert result.returncode != 0
    assert 'bare HGNetV2 backbone' in result.stderr and 'rtdetr_pytorch' in result.stderr
    assert not (tmp_path / 'out.pth').exists()


def test_tool_reports_what_a_lyuwenyu_release_leaves_out(tmp_path):
    src = tmp_path / 'rtdetrv2_hgnetv2_x_6x_coco.pth'
    torch.save(rtdetr_release(rtdetr_pytorch_state('x')), src)
    result = _convert(src, tmp_path / 'rtdetr_x.pth')
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'layout: rtdetr_pytorch' in result.stdout and 'variant: x, 80 classes' in result.stdout
    assert '2 left out (decoder.anchors, decoder.valid_mask)' in result.stdout
    assert 'config: configs/rtdetr/rtdetr_hgnetv2-x_release_coco.py' in result.stdout
