"""tools/deploy_test.py: the table it prints is the one --write-table writes for the documentation."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))


def test_deploy_test_writes_the_table_it_prints_under_its_command(tmp_path, monkeypatch, capsys):
    pytest.importorskip('mmdeploy', reason='the deploy extra is not installed (HGNET_EXTRAS without deploy)')
    import deploy_test
    report = dict(passed=True,
                  pytorch=dict(device='cpu', metrics={'accuracy/top1': 57.5},
                               latency=dict(median_ms=8.6, mean_ms=8.7)),
                  onnxruntime=dict(device='cpu', metrics={'accuracy/top1': 57.5},
                                   latency=dict(median_ms=2.3, mean_ms=2.4), precision='fp32',
                                   max_drift_points=0.0, tolerance_points=0.5, passed=True))
    monkeypatch.setattr(deploy_test, 'use_safe_checkpoint_loading', lambda: None)
    monkeypatch.setattr(deploy_test, 'load_config', lambda config, options: config)
    monkeypatch.setattr(deploy_test, 'evaluate', lambda *args, **kwargs: report)
    table = tmp_path / 'deploy_eval.md'
    deploy_test.main(['deploy.py', 'model.py', 'model.pth', '--work-dir', 'work', '--write-table', str(table)])
    lines = table.read_text().splitlines()
    assert lines[:3] == ['<!-- Written by tools/deploy_test.py --write-table; regenerate with',
                         f'  python tools/deploy_test.py deploy.py model.py model.pth --work-dir work '
                         f'--write-table {table}',
                         'Do not edit by hand. -->']
    assert lines[6:] == ['| pytorch | fp32 | cpu | 57.5 | 8.6 / 8.7 |  |',
                         '| onnxruntime | fp32 | cpu | 57.5 | 2.3 / 2.4 | 0.0 / 0.5 pass |']
    assert '\n'.join(lines[4:]) in capsys.readouterr().out
