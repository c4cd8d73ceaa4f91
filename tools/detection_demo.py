"""The main job: train a small HGNetV2-B0 RetinaNet on the tiny COCO-format set (made here from the
photos scikit-image ships) on the CPU, print its COCO bbox mAP before and after training, and draw
its boxes on a val image. Needs no download: the backbone trains from its own initialisation unless
--weights gives it some (e.g. a PaddleClas .pdparams).

    python tools/detection_demo.py [--work-dir work_dirs/detection_demo] [--weights W] [--seed 0]
"""
import argparse
from pathlib import Path

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis.demo import tiny_detection_run

CONFIG = (Path(__file__).resolve().parents[1] /
          'configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--config', default=str(CONFIG))
    parser.add_argument('--work-dir', default='work_dirs/detection_demo')
    parser.add_argument('--weights', help='backbone weights (.pdparams, .pth, URL or ssld_stage1)')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    result = tiny_detection_run(args.config, args.work_dir, weights=args.weights, seed=args.seed)
    print()
    print('| COCO bbox (val, 24 images) | mAP | mAP@50 | mAP@75 |')
    print('|---|---|---|---|')
    for when in ('before', 'after'):
        m = result[when]
        print(f"| {when} training | {m['coco/bbox_mAP']:.3f} | {m['coco/bbox_mAP_50']:.3f} | "
              f"{m['coco/bbox_mAP_75']:.3f} |")
    print(f"\ncheckpoint: {result['checkpoint']}\nboxes drawn: {result['image']}")


if __name__ == '__main__':
    main()
