"""Quantize a classifier, detector or segmentor to int8 (static quantization, calibrated on real
images) behind an accuracy gate, for ONNX Runtime or OpenVINO as the deploy config says, and report how
far its predictions are from the float32 PyTorch model's.

    python tools/quantize.py configs/deploy/classification_openvino_dynamic.py \\
        configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py work_dirs/tiny/epoch_30.pth \\
        data/tiny_imagenet/train data/tiny_imagenet/val --work-dir work_dirs/tiny_int8 \\
        --min-agreement 0.99

Exports the model with mmdeploy to WORK_DIR/end2end.onnx and quantizes it, calibrated on the images
under CALIBRATION_DIR (preprocessed by the model config's test pipeline, as at inference), until its
top-1 agrees with the float32 model's on at least --min-agreement of the images under VAL_DIR:
- OpenVINO (an OpenVINO deploy config): NNCF's accuracy control returns the layers that cost the
  agreement most to floating point; writes WORK_DIR/end2end_int8.xml (and .bin).
- ONNX Runtime: tries --method, then the other calibration methods, then leaves the groups of nodes
  that cost most in float32 (1, 2, 4, ... of them, up to half); writes WORK_DIR/end2end_int8.onnx.
A detector or segmentor is gated by its metric instead: VAL_DIR is the root of a validation set in
the layout of the model config's test set, and the int8 model's bbox mAP (detection) or mIoU
(segmentation), in points, must be at most --max-drop below the float32 model's:

    python tools/quantize.py configs/deploy/detection_openvino_dynamic.py \\
        configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py work_dirs/det/epoch_8.pth \\
        data/tiny_coco/train data/tiny_coco --work-dir work_dirs/det_int8 --max-drop 1

The int8 model is written only where the bound holds; else the tool says what it measured and exits
with 1. WORK_DIR/quantize_report.json holds the gate's tries and the top-1 agreement and largest
relative logit error of each model with PyTorch on VAL_DIR (detection, segmentation: the metric of
the PyTorch, float32 and int8 models there). The calibration images must look like
those the model will see.
"""
import argparse
import json
import sys

from mmdeploy.utils import Task, get_task_type

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis import load_config
from hgnet_backbones.deploy.quantize import CALIBRATION_METHODS, image_files, quantize


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('deploy_cfg', help='a classification deploy config for ONNX Runtime or '
                        'OpenVINO, e.g. configs/deploy/classification_openvino_dynamic.py')
    parser.add_argument('model_cfg')
    parser.add_argument('checkpoint')
    parser.add_argument('calibration_dir', help='images to calibrate on (any depth)')
    parser.add_argument('val_dir', help='classification: images to compare int8 with float32 on (any '
                        "depth); detection, segmentation: the root of a validation set in the "
                        "layout of the model config's test set")
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--method', default='MinMax', choices=CALIBRATION_METHODS,
                        help='ONNX Runtime: the calibration method tried first')
    parser.add_argument('--max-calibration-images', type=int,
                        help='calibrate on this many of the images (evenly spaced; default all)')
    parser.add_argument('--min-agreement', type=float, default=0.99,
                        help='classification: share of validation images whose top-1 must be '
                        'float32\'s')
    parser.add_argument('--max-drop', type=float,
                        help='detection, segmentation: the largest drop from float32 to int8 '
                        'accepted, in points of bbox mAP (x 100) or mIoU')
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    calibration = image_files(args.calibration_dir)
    if args.max_calibration_images:
        calibration = calibration[::max(1, len(calibration) // args.max_calibration_images)]
        calibration = calibration[:args.max_calibration_images]
    classification = get_task_type(load_config(args.deploy_cfg)) == Task.CLASSIFICATION
    report = quantize(args.deploy_cfg, args.model_cfg, args.checkpoint, calibration,
                      image_files(args.val_dir) if classification else args.val_dir, args.work_dir,
                      args.method, args.min_agreement, args.max_drop)
    print(json.dumps(report, indent=2))
    if not report['passed']:
        print(report['error'], file=sys.stderr)  # the gate's message: the best drop reached
        sys.exit(1)


if __name__ == '__main__':
    main()
