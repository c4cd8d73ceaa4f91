"""Config-level helpers behind the tools: one entry point whatever the config's codebase
(mmpretrain, mmdet or mmseg, told by its ``default_scope``)."""
import copy
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import RUNNERS, init_default_scope
from mmengine.runner import Runner

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
    """Build ``cfg.model`` through its codebase's registry, with the top-level ``data_preprocessor``
    as the Runner would; no weights are loaded."""
    init_default_scope(codebase_of(cfg))
    from mmengine.registry import MODELS
    model_cfg = copy.deepcopy(cfg.model)  # detectors fill in their sub-configs while building
    if cfg.get('data_preprocessor') is not None:
        model_cfg.setdefault('data_preprocessor', cfg.data_preprocessor)
    return MODELS.build(model_cfg)


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


def build_runner(cfg: Config) -> Runner:
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)


def train(config: str, work_dir: Optional[str] = None, resume: Optional[str] = None,
          amp: bool = False, launcher: str = 'none', cfg_options: Optional[dict] = None,
          no_validate: bool = False) -> Runner:
    """Train ``config`` with mmengine's Runner. ``resume``: 'auto' (the latest checkpoint in the work
    dir) or a checkpoint path."""
    cfg = load_config(config)
    cfg.work_dir = work_dir or _default_work_dir(cfg, config)
    setup_amp(cfg, amp)
    if resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume is not None:
        cfg.resume, cfg.load_from = True, resume
    if no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    setup_launcher(cfg, launcher)
    runner = build_runner(cfg)
    runner.train()
    finish_distributed()
    return runner


def test(config: str, checkpoint: str, work_dir: Optional[str] = None, launcher: str = 'none',
         cfg_options: Optional[dict] = None) -> dict:
    """Evaluate ``checkpoint`` (a path, URL, ``.pdparams`` or ``paddleclas://`` name) on the config's
    test set; returns the metrics."""
    cfg = load_config(config)
    cfg.work_dir = work_dir or _default_work_dir(cfg, config)
    cfg.load_from = checkpoint
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    setup_launcher(cfg, launcher)
    metrics = build_runner(cfg).test()
    finish_distributed()
    return metrics


IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def list_images(image_or_dir: str) -> list:
    """``image_or_dir`` itself, or the images in the folder (sorted)."""
    if osp.isdir(image_or_dir):
        files = sorted(osp.join(image_or_dir, f) for f in os.listdir(image_or_dir)
                       if f.lower().endswith(IMAGE_SUFFIXES))
        if not files:
            raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) in {image_or_dir}')
        return files
    if not osp.isfile(image_or_dir):
        raise FileNotFoundError(f'{image_or_dir} not found')
    return [image_or_dir]


def classify(image_or_dir: str, config: str, checkpoint: str, topk: int = 5,
             device: Optional[str] = None) -> list:
    """Top-k classes of each image, as PaddleClas's predictor reports them: ``[{'file_name',
    'class_ids', 'scores', 'label_names'}]``. Label names come from the checkpoint's dataset meta or
    the config's test set (ImageNet names for ImageNet configs)."""
    from mmpretrain.apis import ImageClassificationInferencer
    inferencer = ImageClassificationInferencer(model=config, pretrained=checkpoint, device=device)
    files = list_images(image_or_dir)
    results = []
    for file_name, pred in zip(files, inferencer(files)):
        scores = torch.as_tensor(pred['pred_scores'])
        top = scores.topk(min(topk, scores.numel()))
        ids = top.indices.tolist()
        classes = inferencer.classes
        results.append(dict(
            file_name=file_name, class_ids=ids, scores=[round(float(s), 5) for s in top.values],
            label_names=[classes[i] if classes and i < len(classes) else str(i) for i in ids]))
    return results


def _save_image_atomic(image, path: str) -> None:
    """Write an RGB uint8 array as an image (format from the suffix) through a temporary file."""
    from PIL import Image
    folder, name = osp.split(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{name}.tmp-{os.getpid()}{osp.splitext(name)[1]}')
    try:
        Image.fromarray(image).save(tmp)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def segment(image_or_dir: str, config: str, checkpoint: str, out_dir: str, opacity: float = 0.5,
            with_labels: bool = True, device: Optional[str] = None) -> list:
    """Semantic segmentation of each image with mmseg's ``MMSegInferencer``. Writes
    ``out_dir/<image name>.png``, the image with each pixel's predicted class painted over it in the
    palette's colour (``opacity``; ``with_labels`` writes the class names), and returns
    ``[{'file_name', 'overlay', 'classes': {name: fraction of the pixels}}]``. Class names and palette
    come from the checkpoint's dataset meta or the config's test set."""
    from mmseg.apis import MMSegInferencer
    inferencer = MMSegInferencer(model=config, weights=checkpoint, device=device)
    names = inferencer.model.dataset_meta['classes']
    results = []
    for file_name in list_images(image_or_dir):
        # one input: the inferencer returns its visualization and prediction unlisted
        out = inferencer(file_name, return_vis=True, opacity=opacity, with_labels=with_labels)
        overlay = osp.join(out_dir, osp.splitext(osp.basename(file_name))[0] + '.png')
        _save_image_atomic(out['visualization'], overlay)
        labels, counts = np.unique(out['predictions'], return_counts=True)
        results.append(dict(file_name=file_name, overlay=overlay, classes={
            names[i]: round(float(c) / out['predictions'].size, 4) for i, c in zip(labels, counts)}))
    return results
