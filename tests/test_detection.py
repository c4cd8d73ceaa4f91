"""The tiny detection run behind the main job, inference through mmdet's DetInferencer, and the same
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

from hgnet_backbones.apis import detect
from hgnet_backbones.apis.demo import tiny_detection_run

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = str(REPO / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py')


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('tiny_detection')
    # 3 of the main job's 8 epochs (its cosine schedule cut short): about a minute on 2 cores
    result = tiny_detection_run(TINY_CONFIG, str(work_dir), score_thr=0.2,
                                cfg_options={'train_cfg.max_epochs': 3})
    return dict(result, work_dir=work_dir)


def test_tiny_run_map_rises_far_above_the_untrained_detector(tiny_run):
    before, after = tiny_run['before'], tiny_run['after']
    # measured: no box above the head's score_thr before (AP 0); after 3 epochs mAP 0.065, mAP@50 0.148
    assert before['coco/bbox_mAP'] <= 0.005 and before['coco/bbox_mAP_50'] <= 0.01
    assert after['coco/bbox_mAP'] >= 0.04 and after['coco/bbox_mAP_50'] >= 0.10
    torch.load(tiny_run['checkpoint'])  # weights_only=True, torch's default, reads it


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
    # measured: 42 of the 72 val shapes found with their class at IoU >= 0.5
    assert hits / total >= 0.3, (hits, total)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


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
