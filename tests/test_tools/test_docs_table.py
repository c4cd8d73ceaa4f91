"""The tables the measuring tools write for the documentation (tools/docs_table.py, used by
tools/benchmark.py and tools/deploy_test.py with --write-table)."""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tools'))


def test_docs_table_is_headed_by_a_comment_naming_the_command_that_regenerates_it(tmp_path):
    from docs_table import write_docs_table
    path = tmp_path / 'table.md'
    write_docs_table(path, 'python tools/benchmark.py --archs B0 --write-table t.md', '| a |\n|---|\n| 1 |\n\n')
    assert path.read_text() == ('<!-- Written by tools/benchmark.py --write-table; regenerate with\n'
                                '  python tools/benchmark.py --archs B0 --write-table t.md\n'
                                'Do not edit by hand. -->\n\n'
                                '| a |\n|---|\n| 1 |\n')


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
