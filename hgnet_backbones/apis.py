"""Config-level helpers shared by the tools: one entry point whatever the config's codebase."""
from typing import Optional, Sequence

import torch
from mmengine.config import Config, DictAction  # noqa: F401  (DictAction: the tools' --cfg-options)
from mmengine.registry import init_default_scope

CODEBASES = ('mmpretrain', 'mmdet', 'mmseg')


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    codebase_of(cfg)
    return cfg


def codebase_of(cfg: Config) -> str:
    """'mmpretrain', 'mmdet' or 'mmseg', from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in CODEBASES:
        raise ValueError(f"config's default_scope is {scope!r}; expected one of {CODEBASES}")
    return scope


def build_model(cfg: Config) -> torch.nn.Module:
    """Build ``cfg.model`` through its codebase's registry (no weights are loaded)."""
    init_default_scope(codebase_of(cfg))
    from mmengine.registry import MODELS
    return MODELS.build(cfg.model)


@torch.no_grad()
def tensor_outputs(model: torch.nn.Module, input_shape: Sequence[int]) -> list:
    """Shapes of ``model(x, mode='tensor')`` for a random input, flattened."""
    model.eval()
    outs = model(torch.randn(*input_shape), mode='tensor')
    flat, stack = [], [outs]
    while stack:
        item = stack.pop(0)
        if isinstance(item, torch.Tensor):
            flat.append(tuple(item.shape))
        elif isinstance(item, dict):
            stack[:0] = list(item.values())
        elif isinstance(item, (list, tuple)):
            stack[:0] = list(item)
    return flat
