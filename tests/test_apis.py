"""The train / test / infer tools end to end on the tiny ImageNet-format set, on the CPU."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hgnet_backbones.tiny_data import make_tiny_ade20k, make_tiny_imagenet

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')
TINY_SEG_CONFIG = str(REPO / 'configs/upernet/upernet_hgnetv2-b0_1xb4-300iter_tiny-ade20k-128x128.py')


@pytest.fixture(scope='module')
def tiny_imagenet(tmp_path_factory):
    root = tmp_path_factory.mktemp('tiny_imagenet')
    assert make_tiny_imagenet(root) == {'train': 120, 'val': 40}
    return root


def _options(tiny_imagenet, paddle_fixtures, *extra):
    root = str(tiny_imagenet)
    return ['--cfg-options', 'randomness.seed=0',
            f'train_dataloader.dataset.data_root={root}', f'train_dataloader.dataset.classes={root}/classes.txt',
            f'val_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.classes={root}/classes.txt',
            f'test_dataloader.dataset.data_root={root}', f'test_dataloader.dataset.classes={root}/classes.txt',
            'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={paddle_fixtures}/PPHGNetV2_B0.pdparams', *extra]


def _tool(name, *args, **kwargs):
    return [sys.executable, str(REPO / 'tools' / name), *map(str, args)]


def test_train_interrupt_resume_then_test(tiny_imagenet, paddle_fixtures, tmp_path):
    work_dir = tmp_path / 'work'
    options = _options(tiny_imagenet, paddle_fixtures)
    # train, and kill the run once it has recorded its first checkpoint
    proc = subprocess.Popen(_tool('train.py', TINY_CONFIG, '--work-dir', work_dir, *options),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.time() + 600
    while not (work_dir / 'last_checkpoint').exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    saved = sorted(p.name for p in work_dir.glob('epoch_*.pth'))
    assert saved and 'epoch_4.pth' not in saved, saved
    # torch >= 2.6 loads with weights_only=True by default; mmengine's checkpoints must pass
    torch.load(work_dir / saved[-1])

    result = subprocess.run(_tool('train.py', TINY_CONFIG, '--work-dir', work_dir, '--resume', *options),
                            capture_output=True, text=True, cwd=REPO, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert f'Auto resumed from the latest checkpoint {work_dir / saved[-1]}' in log
    assert re.search(rf'resumed epoch: {saved[-1][6:-4]}, iter', log)
    assert (work_dir / 'epoch_4.pth').exists()

    result = subprocess.run(_tool('test.py', TINY_CONFIG, work_dir / 'epoch_4.pth', '--work-dir', work_dir,
                                  *options), capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout[result.stdout.rindex('{'):])
    # 5 classes (chance: 20%); measured 52.5-55% after these 4 epochs
    assert metrics['accuracy/top1'] >= 35.0


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_dist_train_runs_two_processes_on_cpu(tiny_imagenet, paddle_fixtures, tmp_path):
    env = dict(os.environ, PORT=str(_free_port()),
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}')
    result = subprocess.run(
        [str(REPO / 'tools/dist_train.sh'), TINY_CONFIG, '2', '--work-dir', str(tmp_path),
         *_options(tiny_imagenet, paddle_fixtures, 'train_cfg.max_epochs=1', 'train_cfg.val_interval=1')],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'Distributed launcher: pytorch' in log and 'Distributed training: True' in log
    # 120 images / (2 processes x 8) = 8 iterations an epoch (one process alone would take 15)
    assert re.search(r'Epoch\(train\) \[1\]\[\s*\d+/8\]', log)
    assert (tmp_path / 'epoch_1.pth').exists()


def test_infer_prints_top5_with_imagenet_names_matching_the_model(paddle_fixtures, tmp_path):
    import numpy as np
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    from PIL import Image

    from hgnet_backbones.apis import build_model, load_config
    from hgnet_backbones.tiny_data import load_photo
    photo = tmp_path / 'cat.png'
    Image.fromarray(load_photo('cat')).save(photo)
    config = str(REPO / 'configs/hgnetv2/hgnetv2-b0_8xb128_in1k.py')
    pdparams = str(paddle_fixtures / 'PPHGNetV2_B0.pdparams')
    result = subprocess.run(_tool('infer.py', photo, config, pdparams), capture_output=True, text=True,
                            cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed['label_names'] == [IMAGENET_CATEGORIES[i] for i in printed['class_ids']]

    # the same top-5 computed by hand: resize the short side to 232 (bicubic; the long side
    # truncated, as mmpretrain's ResizeEdge does), crop the centre 224, normalise
    image = Image.open(photo).convert('RGB')
    w, h = image.size
    image = image.resize((int(232 * w / h), 232) if w >= h else (232, int(232 * h / w)), Image.BICUBIC)
    w, h = image.size
    x0, y0 = int(round((w - 224) / 2)), int(round((h - 224) / 2))
    x = np.asarray(image.crop((x0, y0, x0 + 224, y0 + 224)), dtype=np.float32)
    x = (x - [123.675, 116.28, 103.53]) / [58.395, 57.12, 57.375]
    model = build_model(load_config(config))
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, pdparams, strict=True)
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(x).permute(2, 0, 1)[None].float(), mode='tensor')
    top = logits.softmax(-1)[0].topk(5)
    assert printed['class_ids'] == top.indices.tolist()
    np.testing.assert_allclose(printed['scores'], top.values.numpy(), atol=2e-3)


@pytest.fixture(scope='module')
def tiny_seg_run(tmp_path_factory):
    """UPerNet-B0 trained by tools/train.py on the tiny ADE20K-layout set: (data root, work dir, log)."""
    root = tmp_path_factory.mktemp('tiny_ade20k')
    assert make_tiny_ade20k(root) == {'training': 48, 'validation': 16}
    work_dir = tmp_path_factory.mktemp('seg_work')
    options = [f'{split}_dataloader.dataset.data_root={root}' for split in ('train', 'val', 'test')]
    result = subprocess.run(_tool('train.py', TINY_SEG_CONFIG, '--work-dir', work_dir, '--cfg-options',
                                  'randomness.seed=0', *options),
                            capture_output=True, text=True, cwd=REPO, timeout=1200)
    assert result.returncode == 0, result.stderr[-3000:]
    return root, work_dir, result.stdout + result.stderr


def test_upernet_b0_training_on_tiny_ade20k_raises_miou_far_above_the_untrained(tiny_seg_run):
    import ast
    _, work_dir, log = tiny_seg_run
    metrics = {when: ast.literal_eval(re.search(rf'validation {when} training: (\{{.*\}})', log).group(1))
               for when in ('before', 'after')}
    # measured with seeds 0, 1, 2: before 0.5, 6.8, 1.2; after 38.7, 39.2, 37.2. Predicting background
    # everywhere scores about 13 (its IoU, about 80, over 6 classes).
    assert metrics['after']['mIoU'] >= 25.0, metrics
    assert metrics['after']['mIoU'] >= metrics['before']['mIoU'] + 20.0, metrics
    assert (work_dir / 'iter_300.pth').exists()


def test_infer_writes_colour_overlay_of_the_segmentation(tiny_seg_run, tmp_path):
    import numpy as np
    from mmseg.apis import inference_model, init_model
    from PIL import Image

    from hgnet_backbones.apis import segment
    root, work_dir, _ = tiny_seg_run
    image = root / 'images/validation/ADE_val_00000001.jpg'
    checkpoint = str(work_dir / 'iter_300.pth')
    result = subprocess.run(_tool('infer.py', image, TINY_SEG_CONFIG, checkpoint, '--out-dir', tmp_path),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert printed['overlay'] == str(tmp_path / 'ADE_val_00000001.png')
    assert Image.open(printed['overlay']).size == Image.open(image).size

    # without the class names, the overlay is (1 - opacity) * image + opacity * palette colour of
    # the class mmseg's own inference predicts at each pixel
    [plain] = segment(str(image), TINY_SEG_CONFIG, checkpoint, str(tmp_path / 'plain'), opacity=0.5,
                      with_labels=False)
    model = init_model(TINY_SEG_CONFIG, checkpoint, device='cpu')
    pred = inference_model(model, str(image)).pred_sem_seg.data[0].numpy()
    palette = np.array(model.dataset_meta['palette'])
    rgb = np.asarray(Image.open(image).convert('RGB'), dtype=np.float64)
    expected = 0.5 * rgb + 0.5 * palette[pred]
    overlay = np.asarray(Image.open(plain['overlay']), dtype=np.float64)
    assert np.abs(overlay - expected).max() <= 1.0
    names = model.dataset_meta['classes']
    shares = {names[i]: (pred == i).mean() for i in np.unique(pred)}
    assert plain['classes'] == pytest.approx(shares, abs=1e-4) == printed['classes']
    assert len(shares) > 1  # the trained model finds objects, not only background
