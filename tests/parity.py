"""Test helpers: comparing this port with the Paddle parity oracle (PaddleClas's own model run under
Paddle).

The oracle folder holds ``PPHGNetV2_<arch>.pdparams`` and ``PPHGNetV2_<arch>_io.npz`` with the inputs
and Paddle's stem, stage1-4 and logits outputs, computed in float64.
"""
import os
from pathlib import Path
from typing import Dict, Optional

import numpy as np
import torch

from hgnet_backbones.analysis import relative_error

FIXTURES_ENV = 'HGNET_PADDLE_FIXTURES'
MAPS = ('stem', 'stage1', 'stage2', 'stage3', 'stage4', 'logits')


def find_paddle_fixtures() -> Optional[Path]:
    """The oracle folder: ``$HGNET_PADDLE_FIXTURES``, else ``<repo>/../shared/fixtures/paddle``."""
    if os.environ.get(FIXTURES_ENV):
        return Path(os.environ[FIXTURES_ENV])
    candidate = Path(__file__).resolve().parents[2] / 'shared' / 'fixtures' / 'paddle'
    return candidate if candidate.is_dir() else None


@torch.no_grad()
def oracle_errors(model: torch.nn.Module, io_path: os.PathLike) -> Dict[str, Dict[str, float]]:
    """Relative error of each map against an oracle ``*_io.npz``, ``{input_tag: {map: error}}``.

    ``model`` is an :class:`~hgnet_backbones.HGNetV2` (the stem and the stages in its ``out_indices``)
    or a classifier with a ``backbone`` (logits too, from ``model(x, mode='tensor')``), already loaded
    with the oracle's weights; inputs are cast to the model's dtype.
    """
    backbone = getattr(model, 'backbone', model)
    dtype = next(backbone.parameters()).dtype
    io = np.load(io_path)
    tags = sorted({k[:-len('_input')] for k in io.files if k.endswith('_input')})
    errors = {}
    for tag in tags:
        x = torch.from_numpy(io[f'{tag}_input']).to(dtype)
        outputs = {'stem': backbone.stem(x)}
        outputs.update((f'stage{i + 1}', out) for i, out in zip(backbone.out_indices, backbone(x)))
        if model is not backbone:
            outputs['logits'] = model(x, mode='tensor')
        errors[tag] = {name: relative_error(out, io[f'{tag}_{name}']) for name, out in outputs.items()}
    return errors
