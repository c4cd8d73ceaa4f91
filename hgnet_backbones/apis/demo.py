"""The tiny end-to-end detection run behind the README's main job: train a small HGNetV2 detector on a
CPU, its COCO mAP before and after, its boxes drawn. Needs the ``demo`` extra (the tiny data) and the
``det`` extra (mmdet): ``pip install 'hgnet_backbones[det,demo]'``."""
import os.path as osp
from pathlib import Path
from typing import Optional

from mmengine.config import Config

from ..hooks import ValidateBeforeTrainingHook
from ..tiny_data import make_tiny_coco
from .config import load_config
from .inference import detect, list_images
from .runner import build_runner, use_safe_checkpoint_hook


def set_coco_root(cfg: Config, data_root: str) -> None:
    """Point the train/val/test datasets and the COCO evaluators of ``cfg`` at ``data_root``."""
    data_root = osp.join(data_root, '')
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader is not None:
            loader.dataset.data_root = data_root
        evaluator = cfg.get(f'{split}_evaluator')
        if split != 'train' and evaluator is not None:
            evaluator.ann_file = osp.join(data_root, loader.dataset.ann_file)


def measured_metrics(hook: ValidateBeforeTrainingHook, key: str) -> tuple:
    """The validation metrics from before and after training that ``hook`` recorded; a
    ``RuntimeError`` if either validation did not run or did not report ``key``."""
    found = []
    for when, metrics in (('before', hook.before), ('after', hook.after)):
        if metrics is None:
            raise RuntimeError(f'the validation {when} training did not run: the run needs a val '
                               'loop, and one that validates its last epoch (train_cfg.val_begin)')
        if key not in metrics:
            raise RuntimeError(
                f'the validation {when} training reported no {key} (it reported {metrics}); '
                "mmdet's CocoMetric reports nothing when no box passes the head's score_thr: "
                'lower model.test_cfg.score_thr')
        found.append(metrics)
    return tuple(found)


def tiny_detection_run(config: str, work_dir: str, weights: Optional[str] = None, seed: int = 0,
                       score_thr: float = 0.3, cfg_options: Optional[dict] = None) -> dict:
    """Make the tiny COCO-format set in ``work_dir/tiny_coco``, evaluate the untrained detector of
    ``config`` on its val split, train it, evaluate again and draw its boxes on the first val image.

    Args:
        config: A detector config for the tiny set (its datasets are pointed at the one made here).
        work_dir: Where the data, logs, checkpoint and drawing go.
        weights: Backbone weights for ``init_cfg=dict(type='Pretrained')`` (e.g. a PaddleClas
            ``.pdparams``). Defaults to None: the config's own initialisation.
        seed: Seeds the dataset and the training.
        score_thr: Least score of the boxes drawn.
        cfg_options: Config entries to override, e.g. ``{'train_cfg.max_epochs': 2}``.

    Returns:
        dict with ``before`` and ``after`` (the COCO bbox metrics, both measured: a validation that
        did not run or reported nothing raises a ``RuntimeError``), ``checkpoint`` and ``image`` (the
        drawing).
    """
    from mmengine.runner.checkpoint import find_latest_checkpoint
    work_dir = Path(work_dir)
    data_root = work_dir / 'tiny_coco'
    make_tiny_coco(data_root, seed=seed)
    cfg = load_config(config, cfg_options)
    cfg.work_dir = str(work_dir)
    cfg.randomness = dict(seed=seed)
    set_coco_root(cfg, str(data_root))
    if weights is not None:
        cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=weights)
    # validates the initialised detector before training; the train loop validates the last epoch
    cfg.custom_hooks = [*cfg.get('custom_hooks', []), dict(type='ValidateBeforeTrainingHook')]
    use_safe_checkpoint_hook(cfg)
    runner = build_runner(cfg)
    runner.train()
    [hook] = [h for h in runner.hooks if isinstance(h, ValidateBeforeTrainingHook)]
    before, after = measured_metrics(hook, 'coco/bbox_mAP')
    checkpoint = find_latest_checkpoint(str(work_dir))
    image = list_images(str(data_root / 'val'))[0]
    detect(image, runner.cfg, checkpoint, score_thr=score_thr, out_dir=str(work_dir))
    return dict(before=before, after=after, checkpoint=checkpoint,
                image=str(work_dir / 'vis' / osp.basename(image)))
