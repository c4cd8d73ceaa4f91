import os
from pathlib import Path

import pytest

from parity import FIXTURES_ENV, find_paddle_fixtures

REPO_ROOT = Path(__file__).resolve().parents[1]
# .ci/run sets this: there the oracle must be present, and a missing one fails instead of skipping.
REQUIRE_FIXTURES_ENV = 'HGNET_REQUIRE_FIXTURES'


@pytest.fixture(scope='session')
def paddle_fixtures() -> Path:
    """The Paddle parity oracle folder (see parity.find_paddle_fixtures)."""
    path = find_paddle_fixtures()
    if path is None or not (path / 'PPHGNetV2_B0_io.npz').is_file():
        message = (f'Paddle parity oracle not found: set {FIXTURES_ENV} or place it at '
                   f'{REPO_ROOT.parent / "shared/fixtures/paddle"}')
        if os.environ.get(REQUIRE_FIXTURES_ENV):
            pytest.fail(message)
        pytest.skip(message)
    return path
