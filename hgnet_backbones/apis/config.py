"""Configs of any of the three codebases (mmpretrain, mmdet, mmseg, told by ``default_scope``) and
mmdeploy deploy configs, read by one loader (:func:`load_config`)."""
import copy
import difflib
import inspect
from typing import Optional, Sequence, Union

import torch
from mmengine.config import Config

from ..compat.mmengine import package_config_bases

CODEBASES = ('mmpretrain', 'mmdet', 'mmseg')


def _runner_arguments() -> set:
    from mmengine.runner import Runner
    # 'compile' (torch.compile of train_step) the Runner reads from the config, not as an argument
    return set(inspect.signature(Runner.__init__).parameters) - {'self'} | {'compile'}


def _registered_class(type_name, scope: Optional[str]):
    """The class (or function) a config's ``type`` names in the scope's registries, or None."""
    if not isinstance(type_name, str):
        return type_name
    from mmengine import registry
    for root in vars(registry).values():
        if isinstance(root, registry.Registry) and root.parent is None:
            with root.switch_scope_and_registry(scope) as found:
                obj = found.get(type_name)
            if obj is not None:
                return obj
    return None


def _takes_argument(node: dict, key: str, scope: Optional[str]) -> bool:
    """Whether the class a typed dict builds takes ``key`` (True when it cannot be told)."""
    obj = _registered_class(node['type'], node.get('_scope_', scope))
    if obj is None:
        return True
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return True
    return key in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


def check_cfg_options(cfg: Config, options: dict) -> None:
    """Raise ``KeyError`` for an option (``--cfg-options key=value``) that no part of the config can
    take, naming it and the closest keys: a typo must not be merged silently. A key may be new where
    the dict around it builds a class that takes it as an argument (``model.backbone.init_cfg`` of
    ``HGNetV2``), and a Runner argument the config leaves at its default (``randomness.seed``) may be
    set."""
    scope = cfg.get('default_scope')
    for key in options:
        node = cfg._cfg_dict
        parts = key.split('.')
        for depth, part in enumerate(parts):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            if isinstance(node, dict) and part in node:
                node = node[part]
                continue
            if depth == 0 and part in _runner_arguments():
                break
            if isinstance(node, dict) and 'type' in node and _takes_argument(node, part, scope):
                break
            where = '.'.join(parts[:depth]) or 'the config'
            known = list(node) if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, known, n=3)
            hint = f'; did you mean {", ".join(close)}?' if close else (
                f'; {where} has {", ".join(map(str, known[:12]))}' if known else '')
            raise KeyError(f'--cfg-options {key}: {where} has no key {part!r}{hint}')


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """The one config loader of the tools and the library: read a model config or an mmdeploy deploy
    config, this project's or a user's (whose bases may be ``hgnet_backbones::...``, in any install),
    merge ``cfg_options`` (every key must exist, see :func:`check_cfg_options`) and check a model
    config's codebase. A :class:`Config` is taken as it is (a copy where options are merged)."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config) if cfg_options else config
    else:
        with package_config_bases():
            cfg = Config.fromfile(config)
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if 'backend_config' not in cfg:  # a deploy config names its codebase in codebase_config
        codebase_of(cfg)
    return cfg


def codebase_of(cfg: Config) -> str:
    """'mmpretrain', 'mmdet' or 'mmseg', from the config's ``default_scope``."""
    scope = cfg.get('default_scope')
    if scope not in CODEBASES:
        raise ValueError(f"config's default_scope is {scope!r}; expected one of {CODEBASES}")
    return scope


def build_model(cfg: Config) -> torch.nn.Module:
    """Build ``cfg.model`` through its codebase's registry, with the top-level ``data_preprocessor``
    as the Runner would; no weights are loaded."""
    from mmengine.registry import MODELS, init_default_scope
    init_default_scope(codebase_of(cfg))
    model_cfg = copy.deepcopy(cfg.model)  # detectors fill in their sub-configs while building
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


def config_model_size(config: str, input_shape: Sequence[int] = (1, 3, 224, 224)) -> dict:
    """Parameters and FLOPs of the model a config builds (e.g. a full classifier)."""
    from ..analysis import count_flops, count_params
    model = build_model(load_config(config))
    return dict(params=count_params(model), flops=count_flops(model, input_shape))


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
