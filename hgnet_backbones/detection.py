"""HGNetV2 detectors in mmdet: inference through mmdet's ``DetInferencer``, and the tiny end-to-end run
behind the README's main job (train a small detector on a CPU, COCO mAP before and after, boxes drawn).
"""
import os.path as osp
from pathlib import Path
from typing import Optional, Union

from mmengine.config import Config

from .apis import build_runner, list_images, load_config
from .hooks import ValidateBeforeTrainingHook
from .tiny_data import make_tiny_coco


def detect(image_or_dir: str, config: Union[str, Config], checkpoint: str, score_thr: float = 0.3,
           out_dir: Optional[str] = None, device: Optional[str] = None) -> list:
    """Boxes found in an image, or in every image of a folder, by mmdet's ``DetInferencer``:
    ``[{'file_name', 'bboxes' (x1, y1, x2, y2), 'scores', 'labels', 'label_names'}]`` with scores of
    at least ``score_thr``. ``out_dir``: also write each image with its boxes drawn to
    ``out_dir/vis/``. Label names come from the checkpoint's dataset meta."""
    from mmdet.apis import DetInferencer
    if not 0 <= score_thr <= 1:
        raise ValueError(f'score_thr must be in [0, 1], got {score_thr}')
    inferencer = DetInferencer(model=config, weights=checkpoint, device=device, show_progress=False)
    files = list_images(image_or_dir)
    outputs = inferencer(files, pred_score_thr=score_thr, out_dir=out_dir or '',
                         no_save_vis=out_dir is None)
    classes = inferencer.model.dataset_meta.get('classes') or ()
    results = []
    for file_name, pred in zip(files, outputs['predictions']):
        keep = [i for i, s in enumerate(pred['scores']) if s >= score_thr]
        labels = [pred['labels'][i] for i in keep]
        results.append(dict(
            file_name=file_name, bboxes=[[round(v, 2) for v in pred['bboxes'][i]] for i in keep],
            scores=[round(pred['scores'][i], 4) for i in keep], labels=labels,
            label_names=[classes[i] if i < len(classes) else str(i) for i in labels]))
    return results


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
        dict with ``before`` and ``after`` (the COCO bbox metrics), ``checkpoint`` and ``image``
        (the drawing).
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
    runner = build_runner(cfg)
    runner.train()
    [hook] = [h for h in runner.hooks if isinstance(h, ValidateBeforeTrainingHook)]
    after = hook.after
    # mmdet's CocoMetric reports nothing when no box passes the head's score_thr, as for a detector
    # that has not learnt yet; its AP is then 0 (-1 stays for object sizes absent from the set)
    before = hook.before or {key: min(value, 0.0) for key, value in after.items()}
    checkpoint = find_latest_checkpoint(str(work_dir))
    image = list_images(str(data_root / 'val'))[0]
    detect(image, runner.cfg, checkpoint, score_thr=score_thr, out_dir=str(work_dir))
    return dict(before=before, after=after, checkpoint=checkpoint,
                image=str(work_dir / 'vis' / osp.basename(image)))
