"""The one way this package writes a file: to a unique temporary name beside it, renamed over the
final name only once complete, so a failure or a kill leaves either the old file or the new one,
never half of one."""
import contextlib
import os
import re
import tempfile
from typing import IO, Iterator

TMP_SUFFIX = '.tmp'


def _temporary_beside(path: str) -> str:
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # keep the suffix: some writers (PIL, matplotlib) choose the format from it
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{name}.', suffix=TMP_SUFFIX + os.path.splitext(name)[1])
    os.close(fd)
    # mkstemp makes the file 0600; give it the mode open() would
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return tmp


# .<final name>.<mkstemp's 8 random characters>.tmp<final name's suffix>
_TEMPORARY = re.compile(r'\.(?P<final>.+)\.[a-z0-9_]{8}' + re.escape(TMP_SUFFIX) + r'(?P<ext>\.[^.]*)?')


def is_temporary(name: str, final_name: str = '') -> bool:
    """Whether ``name`` is a temporary file of :func:`atomic_path` (for ``final_name``, if given)."""
    match = _TEMPORARY.fullmatch(name)
    if match is None or (match['ext'] or '') != os.path.splitext(match['final'])[1]:
        return False
    return not final_name or match['final'] == final_name


@contextlib.contextmanager
def atomic_path(path: os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path`` (through a
    symlink, its target), on an exception it is removed.

        with atomic_path('model.onnx') as tmp:
            torch.onnx.export(model, x, tmp)
    """
    path = os.path.realpath(os.fspath(path))
    tmp = _temporary_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def atomic_open(path: os.PathLike, mode: str = 'wb', **kwargs) -> Iterator[IO]:
    """``open(path, mode)`` for writing, made atomic by :func:`atomic_path`; flushed to disk before
    the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_bytes(path: os.PathLike, data: bytes) -> None:
    with atomic_open(path, 'wb') as f:
        f.write(data)


def write_text(path: os.PathLike, text: str) -> None:
    with atomic_open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def write_generated_markdown(path: os.PathLike, command: str, table: str) -> None:
    """Write the Markdown ``table`` a tool measured to ``path`` (atomically), under a comment naming
    ``command``, the ``python tools/<tool>.py ... --write-table path`` line that regenerates it (the
    documentation's generated tables, docs/_generated/)."""
    tool = command.split()[1]
    write_text(path, f'<!-- Written by {tool} --write-table; regenerate with\n  {command}\n'
                     f'Do not edit by hand. -->\n\n{table.rstrip()}\n')
