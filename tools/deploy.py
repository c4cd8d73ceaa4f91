"""Export a model to ONNX with mmdeploy, verify it in ONNX Runtime against PyTorch and, for a TensorRT
deploy config where TensorRT (>= 10) and a GPU are present, build the engine and verify it too.

    python tools/deploy.py configs/deploy/detection_tensorrt_dynamic-320x320-1344x1344.py \\
        configs/retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py retinanet.pth demo.jpg \\
        --work-dir work_dirs/retinanet_trt --device cuda:0

Writes WORK_DIR/end2end.onnx (and end2end.engine) and WORK_DIR/deploy_report.json; prints the
report and exits with 1 if a backend's outputs are outside hgnet_backbones.deploy.TOLERANCES.
CHECKPOINT may be a .pth or a PaddleClas .pdparams classifier.
"""
import argparse
import json
import sys

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.deploy import deploy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('deploy_cfg', help='an mmdeploy deploy config, e.g. from configs/deploy/')
    parser.add_argument('model_cfg')
    parser.add_argument('checkpoint')
    parser.add_argument('image', help='the image to trace and verify with')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--device', default='cuda:0',
                        help='where the TensorRT engine is built and run (export and ONNX Runtime '
                        'run on the CPU)')
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    report = deploy(args.deploy_cfg, args.model_cfg, args.checkpoint, args.image, args.work_dir,
                    args.device)
    print(json.dumps(report, indent=2))
    results = report['onnxruntime'] + report.get('tensorrt', {}).get('results', [])
    if 'skipped' in report.get('tensorrt', {}):
        print(f"TensorRT skipped: {report['tensorrt']['skipped']}", file=sys.stderr)
    if not all(result['passed'] for result in results):
        sys.exit(1)


if __name__ == '__main__':
    main()
