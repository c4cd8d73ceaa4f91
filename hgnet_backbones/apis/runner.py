"""Training and testing any config of this project with mmengine's Runner, single- or multi-process."""
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from .config import check_cfg_options, load_config


def _default_work_dir(cfg: Config, config_path: str) -> str:
    return cfg.get('work_dir') or osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher``; for multi-process runs without a GPU, start a gloo process group and
    make DDP wrap a CPU model (mmengine 0.10.7 assumes CUDA for both)."""
    cfg.launcher = launcher
    if launcher == 'none':
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if torch.cuda.is_available():
        cfg.env_cfg.dist_cfg.backend = 'nccl'
        return
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if launcher == 'pytorch' and not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)  # mmengine would pass [LOCAL_RANK], a CUDA device
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper


def finish_distributed() -> None:
    """Wait for every process, then tear the process group down before the interpreter exits: a
    gloo group left to the exit can abort a process ("terminate called without an active exception")
    while its peers still talk to it."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def setup_amp(cfg: Config, amp: bool = False) -> None:
    """``amp``: force AMP on. Without a GPU, an AMP config falls back to fp32 (mmengine's
    AmpOptimWrapper refuses to run on the CPU)."""
    optim_wrapper = cfg.get('optim_wrapper')
    if optim_wrapper is None:
        return
    if amp:
        optim_wrapper.type = 'AmpOptimWrapper'
        optim_wrapper.setdefault('loss_scale', 'dynamic')
    if optim_wrapper.get('type') == 'AmpOptimWrapper' and not torch.cuda.is_available():
        from mmengine.logging import print_log
        print_log('no GPU: training in fp32 instead of AMP', logger='current')
        optim_wrapper.type = 'OptimWrapper'
        optim_wrapper.pop('loss_scale', None)


def use_safe_checkpoint_hook(cfg: Config) -> None:
    """Save with :class:`~hgnet_backbones.hooks.SafeCheckpointHook` where the config has mmengine's
    ``CheckpointHook`` (same arguments): atomic saves, retention after the save, one training per
    work dir, checkpoints that resume with ``weights_only`` loading."""
    hook = cfg.get('default_hooks', {}).get('checkpoint')
    if hook is not None and hook.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
        hook.type = 'SafeCheckpointHook'
        hook.pop('_scope_', None)


def build_runner(cfg: Config) -> Runner:
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def train(config: str, work_dir: Optional[str] = None, resume: Optional[str] = None,
          amp: bool = False, launcher: str = 'none', cfg_options: Optional[dict] = None,
          no_validate: bool = False) -> Runner:
    """Train ``config`` with mmengine's Runner. ``resume``: 'auto' (the latest checkpoint in the work
    dir) or a checkpoint path. A config that sets ``compile`` (``torch.compile`` of ``train_step``)
    gets :class:`~hgnet_backbones.hooks.EagerOptimizerStepHook`."""
    cfg = load_config(config)
    cfg.work_dir = work_dir or _default_work_dir(cfg, config)
    setup_amp(cfg, amp)
    use_safe_checkpoint_hook(cfg)
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    if no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if cfg_options:
        check_cfg_options(cfg, cfg_options)
        cfg.merge_from_dict(cfg_options)
    if cfg.get('compile'):
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='EagerOptimizerStepHook')]
    setup_launcher(cfg, launcher)
    runner = build_runner(cfg)
    runner.train()
    finish_distributed()
    return runner


def test(config: str, checkpoint: str, work_dir: Optional[str] = None, launcher: str = 'none',
         cfg_options: Optional[dict] = None) -> dict:
    """Evaluate ``checkpoint`` (a path, URL, ``.pdparams`` or ``paddleclas://`` name) on the config's
    test set; returns the metrics."""
    cfg = load_config(config, cfg_options)
    cfg.work_dir = work_dir or _default_work_dir(cfg, config)
    cfg.load_from = checkpoint
    setup_launcher(cfg, launcher)
    metrics = build_runner(cfg).test()
    finish_distributed()
    return metrics
