"""Training and testing any config of this project with mmengine's Runner, single- or multi-process
(mmengine's ``pytorch`` and ``slurm`` launchers), with the options the codebases' own tools have:
automatic learning-rate scaling, predictions dumped to a file, drawn, and test-time augmentation."""
import contextlib
import copy
import os.path as osp
from typing import Optional

import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..fileio import atomic_path
from .config import check_cfg_options, codebase_of, load_config


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
    if launcher != 'pytorch':
        raise ValueError(f"launcher {launcher!r} needs CUDA devices (mmengine binds each of its tasks "
                         "to a GPU); without a GPU, run several processes with tools/dist_train.sh "
                         "or tools/dist_test.sh (launcher 'pytorch')")
    cfg.env_cfg.dist_cfg.backend = 'gloo'
    if not torch.distributed.is_initialized():
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


def enable_auto_scale_lr(cfg: Config) -> None:
    """Scale the learning rate by the global batch (processes x ``train_dataloader.batch_size``) over
    ``auto_scale_lr.base_batch_size``, the batch the config's learning rate is for (mmengine's
    ``auto_scale_lr.enable``)."""
    if not cfg.get('auto_scale_lr', {}).get('base_batch_size'):
        raise ValueError("the config has no auto_scale_lr.base_batch_size, the global batch its "
                         "learning rate is for: add auto_scale_lr = dict(base_batch_size=N) to it")
    cfg.auto_scale_lr.enable = True


def train(config: str, work_dir: Optional[str] = None, resume: Optional[str] = None,
          amp: bool = False, launcher: str = 'none', cfg_options: Optional[dict] = None,
          no_validate: bool = False, auto_scale_lr: bool = False) -> Runner:
    """Train ``config`` with mmengine's Runner. ``resume``: 'auto' (the latest checkpoint in the work
    dir) or a checkpoint path. ``auto_scale_lr``: see :func:`enable_auto_scale_lr`. A config that
    sets ``compile`` (``torch.compile`` of ``train_step``) gets
    :class:`~hgnet_backbones.hooks.EagerOptimizerStepHook`."""
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
    if auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if cfg.get('compile'):
        cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='EagerOptimizerStepHook')]
    setup_launcher(cfg, launcher)
    runner = build_runner(cfg)
    runner.train()
    finish_distributed()
    return runner


def _visualization_hook(cfg: Config) -> ConfigDict:
    hook = cfg.get('default_hooks', {}).get('visualization')
    if hook is None:
        raise ValueError('the config has no default_hooks.visualization, the hook that draws '
                         "predictions: add its codebase's (e.g. dict(type='DetVisualizationHook'))")
    return hook


def draw_test_predictions(cfg: Config, show_dir: str) -> None:
    """Have the codebase's visualization hook draw every test image's predictions into ``show_dir``:
    mmpretrain's ``VisualizationHook`` as ``<image>_0.png``, mmdet's ``DetVisualizationHook`` as
    ``<image>``, mmseg's ``SegVisualizationHook`` through the visualizer's local backend as
    ``vis_data/vis_image/test_<image>_0.png``."""
    show_dir = osp.abspath(show_dir)  # mmdet's hook puts a relative one under the work dir
    hook = _visualization_hook(cfg)
    codebase = codebase_of(cfg)
    if codebase == 'mmpretrain':
        hook.update(enable=True, out_dir=show_dir, interval=1)
    elif codebase == 'mmdet':
        hook.update(draw=True, test_out_dir=show_dir)
    else:
        hook.update(draw=True, interval=1)
        cfg.visualizer.save_dir = show_dir


# each codebase's test-time augmentation model, where the config names none (as their tools/test.py)
TTA_MODELS = {
    'mmpretrain': dict(type='AverageClsScoreTTA'),
    'mmdet': dict(type='DetTTAModel', tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
                                                    max_per_img=100)),
    'mmseg': dict(type='SegTTAModel'),
}


def _flip_pipeline(test_pipeline: list, codebase: str) -> list:
    """``test_pipeline`` with its packing step run on the image and on its horizontal flip."""
    pipeline = copy.deepcopy(test_pipeline)
    pack = pipeline[-1]
    if codebase == 'mmdet' and 'meta_keys' in pack:  # DetTTAModel flips the boxes back by these
        pack.meta_keys = tuple(dict.fromkeys((*pack.meta_keys, 'flip', 'flip_direction')))
    pipeline[-1] = dict(type='TestTimeAug', transforms=[
        [dict(type='RandomFlip', prob=1.0), dict(type='RandomFlip', prob=0.0)], [pack]])
    return pipeline


def use_test_time_augmentation(cfg: Config) -> None:
    """Test with the codebase's TTA model (mmpretrain ``AverageClsScoreTTA``, mmdet ``DetTTAModel``,
    mmseg ``SegTTAModel``) over the config's ``tta_pipeline``; a config without ``tta_model`` or
    ``tta_pipeline`` gets the codebase's model and the test pipeline with horizontal flips."""
    codebase = codebase_of(cfg)
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:  # dataset wrappers
        dataset = dataset.dataset
    tta_model = cfg.get('tta_model') or TTA_MODELS[codebase]
    dataset.pipeline = cfg.get('tta_pipeline') or _flip_pipeline(dataset.pipeline, codebase)
    cfg.model = ConfigDict(**tta_model, module=cfg.model)


def _dump_metric(codebase: str, out_file: str):
    """The metric that pickles the predictions, as the codebase's tools/test.py ``--out`` uses."""
    if codebase == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        return DumpDetResults(out_file_path=out_file)
    from mmengine.evaluator import DumpResults
    return DumpResults(out_file_path=out_file)


@contextlib.contextmanager
def dumped_predictions(runner: Runner, out: Optional[str]):
    """Meanwhile, the test also pickles its predictions to ``out`` (written by the main process, to a
    temporary name first)."""
    from mmengine.dist import is_main_process
    from mmengine.logging import print_log
    if out is None:
        yield
        return
    main = is_main_process()
    with atomic_path(out) if main else contextlib.nullcontext(out) as out_file:
        runner.test_evaluator.metrics.append(_dump_metric(codebase_of(runner.cfg), out_file))
        yield
    if main:
        print_log(f'predictions written to {out}', logger='current')


def test(config: str, checkpoint: str, work_dir: Optional[str] = None, launcher: str = 'none',
         cfg_options: Optional[dict] = None, out: Optional[str] = None,
         show_dir: Optional[str] = None, tta: bool = False) -> dict:
    """Evaluate ``checkpoint`` (a path, URL, ``.pdparams`` or ``paddleclas://`` name) on the config's
    test set; returns the metrics.

    Args:
        out: Also pickle the predictions there (``.pkl``), as the codebases' ``tools/test.py --out``
            do with mmengine's ``DumpResults`` (mmdet's ``DumpDetResults``).
        show_dir: Draw each test image's predictions there (:func:`draw_test_predictions`).
        tta: Test-time augmentation (:func:`use_test_time_augmentation`).
    """
    if out is not None and not out.endswith(('.pkl', '.pickle')):
        raise ValueError(f'out={out!r}: predictions are pickled, give a .pkl or .pickle file')
    cfg = load_config(config, cfg_options)
    if tta and show_dir is not None and codebase_of(cfg) == 'mmpretrain':
        raise ValueError("mmpretrain's VisualizationHook draws the network's input, of which "
                         'test-time augmentation makes several: give --tta or --show-dir, not both')
    cfg.work_dir = work_dir or _default_work_dir(cfg, config)
    cfg.load_from = checkpoint
    # a test builds nothing of training (mmseg's visualization hook reads runner.iter, which would
    # build the train loop and read the training set)
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    if show_dir is not None:
        draw_test_predictions(cfg, show_dir)
    if tta:
        use_test_time_augmentation(cfg)
    setup_launcher(cfg, launcher)
    runner = build_runner(cfg)
    with dumped_predictions(runner, out):
        metrics = runner.test()
    finish_distributed()
    return metrics
