"""The one atomic-write helper: a failed write leaves the old file, and a finished one behaves as
open() would have (mode, links)."""
import os
import stat
import threading

import pytest

from hgnet_backbones.fileio import (atomic_open, atomic_path, is_temporary, write_generated_markdown,
                                    write_text)


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / 'epoch_1.pth'
    target.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with atomic_open(target) as f:
            f.write(b'half of the new')
            raise RuntimeError('killed')
    assert target.read_bytes() == b'old'
    assert os.listdir(tmp_path) == ['epoch_1.pth']


def test_new_file_gets_the_mode_open_would_give(tmp_path):
    old = os.umask(0o027)
    try:
        write_text(tmp_path / 'a.txt', 'x')
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / 'a.txt').stat().st_mode) == 0o640


def test_write_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / 'real.json'
    target.write_text('old')
    link = tmp_path / 'link.json'
    link.symlink_to(target)
    write_text(link, 'new')
    assert link.is_symlink() and target.read_text() == 'new'


def test_concurrent_writers_of_one_path_never_mix_their_bytes(tmp_path):
    target = tmp_path / 'shared.bin'
    payloads = [bytes([i]) * 200_000 for i in range(8)]

    def write(data):
        with atomic_open(target) as f:
            f.write(data)

    threads = [threading.Thread(target=write, args=(p, )) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert target.read_bytes() in payloads  # one writer's whole file, not a mix
    assert os.listdir(tmp_path) == ['shared.bin']


def test_temporaries_are_recognised_for_their_final_name(tmp_path):
    with atomic_path(tmp_path / 'epoch_3.pth') as tmp:
        name = os.path.basename(tmp)
        assert is_temporary(name) and is_temporary(name, 'epoch_3.pth')
        assert not is_temporary(name, 'epoch_2.pth')
    assert not is_temporary('epoch_3.pth') and not is_temporary('.hidden')


def test_docs_table_is_headed_by_a_comment_naming_the_command_that_regenerates_it(tmp_path):
    path = tmp_path / 'table.md'
    write_generated_markdown(path, 'python tools/benchmark.py --archs B0 --write-table t.md', '| a |\n|---|\n| 1 |\n\n')
    assert path.read_text() == ('<!-- Written by tools/benchmark.py --write-table; regenerate with\n'
                                '  python tools/benchmark.py --archs B0 --write-table t.md\n'
                                'Do not edit by hand. -->\n\n'
                                '| a |\n|---|\n| 1 |\n')
