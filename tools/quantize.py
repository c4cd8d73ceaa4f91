"""Quantize a classifier to int8 for ONNX Runtime (static quantization, calibrated on real images) and
report how far its predictions are from the float32 PyTorch model's.

    python tools/quantize.py configs/deploy/classification_onnxruntime_dynamic.py \\
        configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py work_dirs/tiny/epoch_30.pth \\
        data/tiny_imagenet/train data/tiny_imagenet/val --work-dir work_dirs/tiny_int8

Exports the model with mmdeploy to WORK_DIR/end2end.onnx, writes WORK_DIR/end2end_int8.onnx calibrated
on the images under CALIBRATION_DIR (preprocessed by the model config's test pipeline, as at
inference) and WORK_DIR/quantize_report.json: the top-1 agreement of each ONNX model with PyTorch on
the images under VAL_DIR, and the largest relative logit error. Prints the report and exits with 1 if
int8's top-1 agreement is below --min-agreement. Check it on your own validation images before using
the int8 model: the calibration images must look like those it will see.
"""
import argparse
import json
import sys

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.deploy.quantize import CALIBRATION_METHODS, image_files, quantize


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('deploy_cfg', help='an ONNX Runtime classification deploy config, e.g. '
                        'configs/deploy/classification_onnxruntime_dynamic.py')
    parser.add_argument('model_cfg')
    parser.add_argument('checkpoint')
    parser.add_argument('calibration_dir', help='images to calibrate on (any depth)')
    parser.add_argument('val_dir', help='images to compare int8 with float32 on (any depth)')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--method', default='MinMax', choices=CALIBRATION_METHODS,
                        help='how activation ranges are read from the calibration images')
    parser.add_argument('--max-calibration-images', type=int,
                        help='calibrate on this many of the images (evenly spaced; default all)')
    parser.add_argument('--min-agreement', type=float, default=0.99,
                        help='share of validation images whose top-1 must be float32\'s')
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    calibration = image_files(args.calibration_dir)
    if args.max_calibration_images:
        calibration = calibration[::max(1, len(calibration) // args.max_calibration_images)]
        calibration = calibration[:args.max_calibration_images]
    report = quantize(args.deploy_cfg, args.model_cfg, args.checkpoint, calibration,
                      image_files(args.val_dir), args.work_dir, args.method, args.min_agreement)
    print(json.dumps(report, indent=2))
    if not report['passed']:
        print(f"int8 top-1 agreement {report['int8']['top1_agreement']:.3f} is below "
              f'--min-agreement {args.min_agreement}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
