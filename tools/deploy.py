"""Export a model to ONNX with mmdeploy, verify it in ONNX Runtime against PyTorch and, for an OpenVINO
deploy config, convert it to OpenVINO IR (end2end.xml/.bin) and verify that at the config's precision;
for a TensorRT deploy config where TensorRT (>= 10) and a GPU are present, build the engine and verify
it too.

    python tools/deploy.py configs/deploy/classification_openvino_dynamic.py \
        configs/hgnetv2/hgnetv2-b0_8xb128_in1k.py paddleclas://B0/ssld_stage2 demo.jpg \
        --work-dir work_dirs/b0_openvino

    python tools/deploy.py configs/deploy/detection_tensorrt_dynamic-320x320-1344x1344.py \\
        configs/retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py retinanet.pth demo.jpg \\
        --work-dir work_dirs/retinanet_trt --device cuda:0

Writes WORK_DIR/end2end.onnx (and end2end.xml/.bin or end2end.engine) and WORK_DIR/deploy_report.json; prints the
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
    results = report['onnxruntime'] + [result for backend in ('openvino', 'tensorrt')
                                       for result in report.get(backend, {}).get('results', [])]
    if 'skipped' in report.get('tensorrt', {}):
        print(f"TensorRT skipped: {report['tensorrt']['skipped']}", file=sys.stderr)
    if not all(result['passed'] for result in results):
        sys.exit(1)


if __name__ == '__main__':
    main()
