"""Test helper: the D-FINE reference (transformers 4.57.6), which cannot be imported beside mmpretrain,
run in a second interpreter. ``tools/env.sh`` installs it into ``<venv>/reference-transformers``
(``tools/requirements-reference.txt``); ``$HGNET_REFERENCE_TRANSFORMERS`` points elsewhere."""
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

REFERENCE_ENV = 'HGNET_REFERENCE_TRANSFORMERS'


def reference_path() -> Optional[Path]:
    """The folder holding the reference ``transformers`` package, or None when it is absent."""
    folder = Path(os.environ.get(REFERENCE_ENV) or Path(sys.prefix) / 'reference-transformers')
    return folder if (folder / 'transformers').is_dir() else None


def require_reference() -> Path:
    """The reference folder; skips the test (naming what to do) when it is absent."""
    folder = reference_path()
    if folder is None:
        pytest.skip(f'transformers reference not found: run tools/env.sh (it installs '
                    f'tools/requirements-reference.txt into <venv>/reference-transformers) or set '
                    f'{REFERENCE_ENV}')
    return folder


def run_reference(args: List[str], timeout: float = 600) -> subprocess.CompletedProcess:
    """Runs ``python ARGS`` with the reference transformers first on the path (and not this package's
    mmpretrain); fails the test with the script's output when it exits non-zero."""
    folder = require_reference()
    env = dict(os.environ, PYTHONPATH=str(folder))
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'reference script {args[0]} failed ({proc.returncode}):\n{proc.stdout[-4000:]}'
                    f'\n{proc.stderr[-4000:]}')
    return proc
