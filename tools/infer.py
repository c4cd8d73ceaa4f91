"""Predict on an image, or every image in a folder, with any config of this project (mmpretrain, mmdet or
mmseg, told by its default_scope); prints one JSON line per image.

    python tools/infer.py IMAGE_OR_DIR CLS_CONFIG CHECKPOINT [--topk 5] [--device cuda:0]
    python tools/infer.py IMAGE_OR_DIR DET_CONFIG CHECKPOINT [--score-thr 0.3] [--out-dir DIR]
    python tools/infer.py IMAGE_OR_DIR SEG_CONFIG CHECKPOINT --out-dir DIR [--opacity 0.5]
    python tools/infer.py IMAGE_OR_DIR CONFIG work_dirs/x/end2end.xml \
        --deploy-cfg configs/deploy/classification_openvino_dynamic.py

Classification: the top-k class ids, scores and label names, as PaddleClas's predictor prints them.
Detection (mmdet's DetInferencer): the boxes (x1, y1, x2, y2), scores, labels and label names scoring at
least --score-thr; with --out-dir, each image with its boxes drawn in DIR/vis/.
Segmentation (mmseg's MMSegInferencer): DIR/<image name>.png, the predicted classes painted over the
image, and the share of each predicted class.
CHECKPOINT may be a .pth, a PaddleClas .pdparams, a URL or paddleclas://B4/ssld_stage2; it must fit the
config's model (a checkpoint with missing, unexpected or mis-shaped keys is refused, naming them).
With --deploy-cfg, CHECKPOINT is a deployed model of the config's model written by tools/deploy.py (an
.onnx for ONNX Runtime or OpenVINO, an OpenVINO .xml, the int8 one of tools/quantize.py too), run on the
CPU by the deploy config's backend; label names then come from the config's test set.
"""
import argparse
import json

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis import codebase_of, infer, load_config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image_or_dir')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--topk', type=int, default=5, help='classification: classes to print')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='detection: least score of the boxes printed and drawn')
    parser.add_argument('--out-dir', help='detection: where the drawn images go (DIR/vis/); '
                        'segmentation (needed): where the overlays go')
    parser.add_argument('--opacity', type=float, default=0.5, help='segmentation: of the colours')
    parser.add_argument('--device', default=None)
    parser.add_argument('--deploy-cfg', help='CHECKPOINT is a deployed model (.onnx, .xml): the '
                        'deploy config naming its backend, e.g. from configs/deploy/')
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    cfg = load_config(args.config)
    if codebase_of(cfg) == 'mmseg' and not args.out_dir:
        parser.error(f'{args.config} is a segmentation config: give --out-dir for the overlays')
    results = infer(args.image_or_dir, cfg, args.checkpoint, out_dir=args.out_dir, device=args.device,
                    topk=args.topk, score_thr=args.score_thr, opacity=args.opacity,
                    deploy_cfg=args.deploy_cfg)
    print()  # after the progress bar
    for result in results:
        print(json.dumps(result))


if __name__ == '__main__':
    main()
