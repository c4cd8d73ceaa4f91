"""The train / test / infer tools and their launchers end to end on the tiny ImageNet-format and
ADE20K-layout sets, on the CPU (the tiny detector's are in test_detection_tools.py)."""
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

REPO = Path(__file__).resolve().parents[2]
TINY_CONFIG = str(REPO / 'configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py')
TINY_SEG_CONFIG = str(REPO / 'configs/upernet/upernet_hgnetv2-b0_1xb4-300iter_tiny-ade20k-128x128.py')


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


@pytest.mark.slow
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


@pytest.mark.slow
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
    # the recipe's auto_scale_lr is on: lr 0.02 is for a global batch of 8, here 2 x 8
    assert 'Scaling the original LR by 2.0' in log


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def _printed_metrics(stdout: str) -> dict:
    return json.loads(stdout[stdout.rindex('{'):])


@pytest.fixture(scope='module')
def cls_test_run(tiny_classifier, tiny_imagenet, paddle_fixtures, tmp_path_factory):
    """tools/test.py --out --show-dir on the tiny classifier: (printed metrics, work dir)."""
    work_dir = tmp_path_factory.mktemp('cls_test')
    result = subprocess.run(_tool('test.py', TINY_CONFIG, tiny_classifier, '--work-dir', work_dir, '--out',
                                  work_dir / 'preds.pkl', '--show-dir', work_dir / 'show',
                                  *_options(tiny_imagenet, paddle_fixtures)),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return _printed_metrics(result.stdout), work_dir


def _val_images(tiny_imagenet):
    return [line.split()[0] for line in (tiny_imagenet / 'meta/val.txt').read_text().splitlines()]


def test_test_out_dumps_each_images_prediction_giving_the_top1_and_show_dir_draws_each(
        cls_test_run, tiny_imagenet):
    from mmengine.fileio import load
    metrics, work_dir = cls_test_run
    preds = load(str(work_dir / 'preds.pkl'))
    images = _val_images(tiny_imagenet)
    assert [Path(p['img_path']).name for p in preds] == [Path(i).name for i in images]
    correct = sum(int(p['pred_label']) == int(p['gt_label']) for p in preds)
    assert metrics['accuracy/top1'] == pytest.approx(100 * correct / len(preds))
    # mmpretrain's VisualizationHook: <image>_<step>.png, every test image
    assert sorted(p.name for p in (work_dir / 'show').iterdir()) == sorted(
        f'{Path(i).name}_0.png' for i in images)


@pytest.mark.slow
def test_dist_test_in_two_cpu_processes_gives_the_single_process_top1_and_every_prediction(
        cls_test_run, tiny_classifier, tiny_imagenet, paddle_fixtures, tmp_path):
    from mmengine.fileio import load
    env = dict(os.environ, PORT=str(_free_port()),
               PATH=f'{Path(sys.executable).parent}{os.pathsep}{os.environ["PATH"]}')
    result = subprocess.run(
        [str(REPO / 'tools/dist_test.sh'), TINY_CONFIG, str(tiny_classifier), '2', '--work-dir',
         str(tmp_path), '--out', str(tmp_path / 'preds.pkl'), *_options(tiny_imagenet, paddle_fixtures)],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert 'Distributed launcher: pytorch' in log
    # 40 images / (2 processes x 8) = 3 iterations each (one process alone would take 5)
    assert re.search(r'Epoch\(test\) \[3/3\]', log)
    assert _printed_metrics(result.stdout) == cls_test_run[0]
    single = load(str(cls_test_run[1] / 'preds.pkl'))
    both = load(str(tmp_path / 'preds.pkl'))  # gathered from the two processes, in dataset order
    assert [p['img_path'] for p in both] == [p['img_path'] for p in single]
    assert len(both) == 40
    for a, b in zip(both, single):
        torch.testing.assert_close(a['pred_score'], b['pred_score'], rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_test_tta_averages_the_scores_of_each_image_and_its_horizontal_flip(
        tiny_classifier, tiny_imagenet, paddle_fixtures, tmp_path):
    from mmengine.dataset import pseudo_collate
    from mmengine.fileio import load
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmpretrain.registry import DATASETS

    from hgnet_backbones.apis import build_model, load_config
    result = subprocess.run(_tool('test.py', TINY_CONFIG, tiny_classifier, '--work-dir', tmp_path, '--tta',
                                  '--out', tmp_path / 'tta.pkl', *_options(tiny_imagenet, paddle_fixtures)),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    preds = load(str(tmp_path / 'tta.pkl'))
    # by hand: the model's softmax scores on the test input and on its mirror image, averaged
    cfg = load_config(TINY_CONFIG)
    cfg.test_dataloader.dataset.update(data_root=str(tiny_imagenet),
                                       classes=str(tiny_imagenet / 'classes.txt'))
    model = build_model(cfg).eval()
    load_checkpoint(model, str(tiny_classifier), strict=True)
    init_default_scope('mmpretrain')
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    with torch.no_grad():
        for index in (0, 17):
            x = model.data_preprocessor(pseudo_collate([dataset[index]]))['inputs']
            scores = [model(v, mode='tensor').softmax(-1)[0] for v in (x, x.flip(-1))]
            torch.testing.assert_close(preds[index]['pred_score'], (scores[0] + scores[1]) / 2,
                                       rtol=1e-4, atol=1e-5)
            assert not torch.allclose(scores[0], scores[1], atol=1e-4)  # the flip changes them


def test_test_refuses_tta_with_show_dir_for_classification(tmp_path):
    from hgnet_backbones.apis import test
    with pytest.raises(ValueError, match='--tta or --show-dir, not both'):
        test(TINY_CONFIG, 'unused.pth', work_dir=str(tmp_path), show_dir=str(tmp_path), tta=True)


def test_test_out_must_name_a_pickle_file(tmp_path):
    from hgnet_backbones.apis import test
    with pytest.raises(ValueError, match=r"out='preds.json': predictions are pickled"):
        test(TINY_CONFIG, 'unused.pth', work_dir=str(tmp_path), out='preds.json')


def test_infer_refuses_a_checkpoint_that_does_not_fit_naming_its_keys(paddle_fixtures, tmp_path):
    from PIL import Image
    from hgnet_backbones.tiny_data import load_photo
    photo = tmp_path / 'cat.png'
    Image.fromarray(load_photo('cat')).save(photo)
    # the ImageNet classifier's weights, 1000 classes, for the tiny set's 5-class model
    result = subprocess.run(_tool('infer.py', photo, TINY_CONFIG, paddle_fixtures / 'PPHGNetV2_B0.pdparams'),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode != 0
    assert 'does not fit the model of the config' in result.stderr
    assert 'size mismatch for head.fc.weight' in result.stderr
    assert 'label_names' not in result.stdout  # no prediction from a random head


@pytest.mark.slow
def test_test_tool_on_the_tiny_segmentor_dumps_draws_and_tests_with_segtta(tiny_seg_run, tmp_path):
    from mmengine.config import Config
    from mmengine.fileio import load
    from mmseg.evaluation import IoUMetric
    root, work_dir, _ = tiny_seg_run
    result = subprocess.run(_tool('test.py', TINY_SEG_CONFIG, work_dir / 'iter_300.pth', '--work-dir',
                                  tmp_path, '--tta', '--out', tmp_path / 'preds.pkl', '--show-dir',
                                  tmp_path / 'show', '--cfg-options',
                                  f'test_dataloader.dataset.data_root={root}'),
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = _printed_metrics(result.stdout)
    ran = Config.fromfile(str(tmp_path / Path(TINY_SEG_CONFIG).name))
    assert ran.model.type == 'SegTTAModel' and ran.test_dataloader.dataset.pipeline[-1].type == 'TestTimeAug'
    # the dumped predictions, evaluated offline by mmseg's IoUMetric, give the printed mIoU
    preds = load(str(tmp_path / 'preds.pkl'))
    assert len(preds) == 16
    metric = IoUMetric()
    metric.dataset_meta = dict(classes=ran.classes)
    metric.process({}, preds)
    assert metric.evaluate(len(preds)) == pytest.approx(printed, abs=0.01)
    assert printed['mIoU'] >= 25.0  # measured: 43.6 (42.2 without TTA)
    # mmseg's SegVisualizationHook, through the visualizer's local backend: every test image
    drawn = sorted(p.name for p in (tmp_path / 'show/vis_data/vis_image').iterdir())
    images = sorted(p.name for p in (root / 'images/validation').iterdir())
    assert drawn == [f'test_{name}_0.png' for name in images]


def test_auto_scale_lr_scales_the_learning_rate_by_the_global_batch(tmp_path):
    from hgnet_backbones.apis import train
    from hgnet_backbones.tiny_data import make_tiny_coco
    make_tiny_coco(tmp_path / 'data', seed=0)
    config = str(REPO / 'configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py')
    options = {'train_dataloader.batch_size': 2, 'train_dataloader.dataset.indices': 2,
               'train_cfg.max_epochs': 1, 'param_scheduler': [],
               'train_dataloader.dataset.data_root': f'{tmp_path}/data/'}
    # the config's lr 4e-3 is for a batch of 4 (auto_scale_lr.base_batch_size); here 1 x 2
    runner = train(config, work_dir=str(tmp_path / 'work'), cfg_options=options, no_validate=True,
                   auto_scale_lr=True)
    lrs = [g['lr'] for g in runner.optim_wrapper.param_groups]
    assert lrs and lrs == [pytest.approx(2e-3)] * len(lrs)


def test_auto_scale_lr_needs_the_batch_the_configs_lr_is_for():
    from hgnet_backbones.apis import load_config
    from hgnet_backbones.apis.runner import enable_auto_scale_lr
    cfg = load_config(str(REPO / 'configs/upernet/upernet_hgnetv2-b0_4xb4-160k_ade20k-512x512.py'))
    with pytest.raises(ValueError, match='no auto_scale_lr.base_batch_size'):
        enable_auto_scale_lr(cfg)


@pytest.fixture
def stub_srun(tmp_path):
    """A ``srun`` first on PATH that records its arguments, one a line, to ``srun.args``."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text('#!/bin/sh\nprintf \'%s\\n\' "$@" > "$SRUN_LOG"\n')
    (bin_dir / 'srun').chmod(0o755)
    log = tmp_path / 'srun.args'
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}', SRUN_LOG=str(log),
               GPUS='16', GPUS_PER_NODE='8', CPUS_PER_TASK='4', SRUN_ARGS='--time=1:00:00 --qos=low')
    return env, log


@pytest.mark.parametrize('script,tool,positional', [
    ('slurm_train.sh', 'train.py', ['CONFIG.py', 'WORK_DIR']),
    ('slurm_test.sh', 'test.py', ['CONFIG.py', 'CKPT.pth']),
])
def test_slurm_scripts_start_one_task_per_gpu_over_nodes_with_the_slurm_launcher(
        stub_srun, script, tool, positional):
    env, log = stub_srun
    result = subprocess.run([str(REPO / 'tools' / script), 'gpu', 'job', *positional, '--cfg-options', 'a=1'],
                            capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    tool_args = [positional[0], '--work-dir', positional[1]] if tool == 'train.py' else positional
    assert log.read_text().splitlines() == [
        '-p', 'gpu', '--job-name=job', '--gres=gpu:8', '--ntasks=16', '--ntasks-per-node=8',
        '--cpus-per-task=4', '--kill-on-bad-exit=1', '--time=1:00:00', '--qos=low',
        'python', '-u', str(REPO / 'tools' / tool), '--launcher', 'slurm', *tool_args, '--cfg-options', 'a=1']


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh', 'dist_test.sh', 'dist_train.sh'])
def test_launch_scripts_print_their_usage_when_arguments_are_missing(stub_srun, script):
    env, log = stub_srun
    result = subprocess.run([str(REPO / 'tools' / script), 'only-one'], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 2 and 'usage:' in result.stderr and not log.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='the refusal is for machines without a GPU')
def test_slurm_command_on_a_machine_without_gpu_is_refused_naming_the_cpu_launcher(stub_srun, tmp_path):
    env, log = stub_srun
    subprocess.run([str(REPO / 'tools/slurm_train.sh'), 'gpu', 'job', TINY_CONFIG, str(tmp_path / 'work')],
                   check=True, env=env, timeout=60)
    command = log.read_text().splitlines()
    python = command.index('python')
    # the recorded command, as a Slurm task would run it (mmengine's slurm launcher reads these)
    task_env = dict(os.environ, SLURM_PROCID='0', SLURM_NTASKS='1', SLURM_NODELIST='localhost',
                    SLURM_LOCALID='0')
    result = subprocess.run([sys.executable, *command[python + 1:]], capture_output=True, text=True,
                            cwd=REPO, env=task_env, timeout=300)
    assert result.returncode != 0
    assert "launcher 'slurm' needs CUDA devices" in result.stderr and 'dist_train.sh' in result.stderr
