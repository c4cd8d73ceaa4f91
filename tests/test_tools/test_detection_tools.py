"""The tiny detection run behind the main job (the ``tiny_run`` fixture of conftest.py), inference
through mmdet's DetInferencer, tools/infer.py and tools/test.py on the tiny detector, and the same
training in two processes, on the CPU."""
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hgnet_backbones import ValidateBeforeTrainingHook
from hgnet_backbones.apis import build_model, detect, load_config
from hgnet_backbones.apis.demo import measured_metrics

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = str(REPO / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py')


COCO_KEYS = {f'coco/bbox_mAP{s}' for s in ('', '_50', '_75', '_s', '_m', '_l')}


@pytest.mark.slow
def test_tiny_run_map_rises_far_above_the_untrained_detectors_measured_map(tiny_run):
    before, after = tiny_run['before'], tiny_run['after']
    # both are mmdet's COCO evaluation (every key it reports), the untrained detector's too: the tiny
    # config evaluates every box the head keeps, so an untrained detector is scored, not skipped
    assert set(before) == set(after) == COCO_KEYS
    # measured: before mAP 0.001, mAP@50 0.004; after 4 epochs mAP 0.081, mAP@50 0.196 (Intel Xeon)
    assert 0 <= before['coco/bbox_mAP'] <= 0.005 and 0 <= before['coco/bbox_mAP_50'] <= 0.02
    assert after['coco/bbox_mAP'] >= 0.04 and after['coco/bbox_mAP_50'] >= 0.10
    torch.load(tiny_run['checkpoint'])  # weights_only=True, torch's default, reads it


@pytest.mark.parametrize('before,after,match', [
    (None, {'coco/bbox_mAP': 0.2}, 'validation before training did not run'),
    ({'coco/bbox_mAP': 0.0}, None, 'validation after training did not run'),
    ({}, {'coco/bbox_mAP': 0.2}, 'validation before training reported no coco/bbox_mAP'),
])
def test_a_validation_that_did_not_run_or_report_is_an_error_not_a_zero(before, after, match):
    hook = ValidateBeforeTrainingHook()
    hook.before, hook.after = before, after
    with pytest.raises(RuntimeError, match=match):
        measured_metrics(hook, 'coco/bbox_mAP')


@pytest.mark.slow
def test_tiny_run_draws_its_boxes_on_a_val_image(tiny_run):
    drawn = np.asarray(Image.open(tiny_run['image']).convert('RGB'), dtype=float)
    original_path = tiny_run['work_dir'] / 'tiny_coco/val' / Path(tiny_run['image']).name
    original = np.asarray(Image.open(original_path).convert('RGB'), dtype=float)
    assert drawn.shape == original.shape
    changed = np.abs(drawn - original).max(-1) > 60
    boxes = detect(str(original_path), TINY_CONFIG, tiny_run['checkpoint'], score_thr=0.2)[0]['bboxes']
    near_boxes = np.zeros_like(changed)
    for x1, y1, x2, y2 in boxes:
        near_boxes[max(int(y1) - 3, 0):int(y2) + 4, max(int(x1) - 3, 0):int(x2) + 4] = True
    # measured: 28% of the pixels changed, 95% of them at the boxes (the rest: label text)
    assert boxes and changed.mean() > 0.02
    assert (changed & near_boxes).sum() / changed.sum() > 0.8


def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.slow
def test_detinferencer_with_our_config_finds_the_val_shapes(tiny_run):
    root = tiny_run['work_dir'] / 'tiny_coco'
    coco = json.loads((root / 'annotations/instances_val.json').read_text())
    names = {c['id']: c['name'] for c in coco['categories']}
    results = detect(str(root / 'val'), TINY_CONFIG, tiny_run['checkpoint'], score_thr=0.2)
    assert [Path(r['file_name']).name for r in results] == [i['file_name'] for i in coco['images']]
    hits = total = 0
    for image, result in zip(coco['images'], results):
        assert all(s >= 0.2 for s in result['scores'])
        gts = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        for gt in gts:
            x, y, w, h = gt['bbox']
            total += 1
            hits += any(_iou(box, (x, y, x + w, y + h)) >= 0.5 and name == names[gt['category_id']]
                        for box, name in zip(result['bboxes'], result['label_names']))
    # measured (3 epochs, AMD EPYC): 42 of the 72 val shapes found with their class at IoU >= 0.5
    assert hits / total >= 0.3, (hits, total)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_dist_train_runs_the_tiny_detector_in_two_processes(tiny_run, tmp_path):
    root = tiny_run['work_dir'] / 'tiny_coco'
    options = [f'{split}_dataloader.dataset.data_root={root}/' for split in ('train', 'val', 'test')]
    options += [f'{split}_evaluator.ann_file={root}/annotations/instances_val.json'
                for split in ('val', 'test')]
    env = dict(os.environ, PORT=str(_free_port()),
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}')
    result = subprocess.run(
        [str(REPO / 'tools/dist_train.sh'), TINY_CONFIG, '2', '--work-dir', str(tmp_path),
         '--cfg-options', 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1', *options],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'Distributed training: True' in log
    # 192 images / (2 processes x 4) = 24 iterations an epoch (one process alone would take 48)
    assert re.search(r'Epoch\(train\) \[1\]\[24/24\]', log)
    assert re.search(r'coco/bbox_mAP: \d', log)
    assert (tmp_path / 'epoch_1.pth').exists()


def _tool(name, *args):
    return [sys.executable, str(REPO / 'tools' / name), *map(str, args)]


@pytest.mark.slow
def test_infer_tool_prints_boxes_scores_and_label_names_and_draws_them(tiny_run, tmp_path):
    root = tiny_run['work_dir'] / 'tiny_coco'
    result = subprocess.run(_tool('infer.py', root / 'val', TINY_CONFIG, tiny_run['checkpoint'],
                                  '--score-thr', 0.2, '--out-dir', tmp_path),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [json.loads(line) for line in result.stdout.strip().splitlines()[-24:]]
    images = sorted(p.name for p in (root / 'val').iterdir())
    assert [Path(p['file_name']).name for p in printed] == images
    names = {'circle', 'triangle', 'square'}
    for p in printed:
        assert set(p) == {'file_name', 'bboxes', 'scores', 'labels', 'label_names'}
        assert len(p['bboxes']) == len(p['scores']) == len(p['labels']) == len(p['label_names'])
        assert all(s >= 0.2 for s in p['scores']) and set(p['label_names']) <= names
    assert sum(len(p['bboxes']) for p in printed) > 0
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == images


def test_detect_refuses_a_checkpoint_that_does_not_fit_naming_its_keys(tmp_path):
    cfg = load_config(TINY_CONFIG)
    state = build_model(cfg).state_dict()
    state.pop('bbox_head.retina_cls.weight')
    state['neck.extra.weight'] = torch.zeros(1)
    torch.save({'state_dict': state}, tmp_path / 'other.pth')
    image = tmp_path / 'image.png'
    Image.fromarray(np.zeros((64, 80, 3), np.uint8)).save(image)
    with pytest.raises(ValueError, match='does not fit') as error:
        detect(str(image), TINY_CONFIG, str(tmp_path / 'other.pth'))
    assert 'neck.extra.weight' in str(error.value)  # unexpected
    assert 'bbox_head.retina_cls.weight' in str(error.value)  # missing


def _test_options(tiny_run):
    root = tiny_run['work_dir'] / 'tiny_coco'
    return ['--cfg-options', f'test_dataloader.dataset.data_root={root}/',
            f'test_evaluator.ann_file={root}/annotations/instances_val.json']


@pytest.mark.slow
def test_test_tool_dumps_predictions_that_score_its_map_and_draws_them(tiny_run, tmp_path):
    from mmdet.evaluation import CocoMetric
    from mmengine.fileio import load
    root = tiny_run['work_dir'] / 'tiny_coco'
    result = subprocess.run(_tool('test.py', TINY_CONFIG, tiny_run['checkpoint'], '--work-dir', tmp_path,
                                  '--out', tmp_path / 'preds.pkl', '--show-dir', tmp_path / 'show',
                                  *_test_options(tiny_run)),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.rindex('{'):])
    # the dumped predictions, evaluated offline by mmdet's CocoMetric, give the printed mAP
    preds = load(str(tmp_path / 'preds.pkl'))
    assert len(preds) == 24
    metric = CocoMetric(ann_file=str(root / 'annotations/instances_val.json'), metric='bbox')
    metric.dataset_meta = dict(classes=('circle', 'triangle', 'square'))
    metric.process({}, preds)
    offline = metric.evaluate(len(preds))
    assert offline == pytest.approx(printed) and printed['coco/bbox_mAP'] > 0
    # one drawing per val image: mmdet's hook draws the ground truth (left) beside the predictions
    # (right) above its score_thr 0.3; measured: boxes drawn on 20 of the 24
    drawn = sorted(p.name for p in (tmp_path / 'show').iterdir())
    assert drawn == sorted(p.name for p in (root / 'val').iterdir())
    changed = 0
    for name in drawn:
        original = np.asarray(Image.open(root / 'val' / name).convert('RGB'), dtype=float)
        both = np.asarray(Image.open(tmp_path / 'show' / name).convert('RGB'), dtype=float)
        height, width = original.shape[:2]
        assert both.shape == (height, 2 * width, 3)
        changed += np.abs(both[:, width:] - original).max() > 60
    assert changed >= 12, changed


@pytest.mark.slow
def test_test_tool_tta_merges_flipped_and_scaled_views_with_dettta(tiny_run, tmp_path):
    from mmengine.config import Config
    from mmengine.fileio import load
    result = subprocess.run(_tool('test.py', TINY_CONFIG, tiny_run['checkpoint'], '--work-dir', tmp_path,
                                  '--tta', '--out', tmp_path / 'tta.pkl', *_test_options(tiny_run)),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout[result.stdout.rindex('{'):])
    # the run's config (dumped by the runner): mmdet's TTA model over the tiny config's tta_pipeline
    ran = Config.fromfile(str(tmp_path / Path(TINY_CONFIG).name))
    assert ran.model.type == 'DetTTAModel' and ran.model.module.type == 'RetinaNet'
    aug = ran.test_dataloader.dataset.pipeline[-1]
    assert aug.type == 'TestTimeAug' and len(aug.transforms[0]) * len(aug.transforms[1]) == 4
    # measured (3 epochs, AMD EPYC): 0.072 (0.061 without TTA)
    assert len(load(str(tmp_path / 'tta.pkl'))) == 24 and printed['coco/bbox_mAP'] >= 0.04
