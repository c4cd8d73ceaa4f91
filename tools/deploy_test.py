"""Evaluate a deployed model on the model config's test set beside the PyTorch model, as mmdeploy's
tools/test.py evaluates a backend model: exports to ONNX (unless --onnx gives the file), runs the test
set through ONNX Runtime (and, for an OpenVINO deploy config, OpenVINO at the config's precision, or
the int8 IR --openvino-model gives; for a TensorRT deploy config, an engine where TensorRT >= 10 and a
GPU are present) and through PyTorch, and prints their metrics and the latency of each network call.

    python tools/deploy_test.py configs/deploy/detection_onnxruntime_dynamic.py \\
        configs/retinanet/retinanet_hgnetv2-b0_fpn_1xb4-8e_tiny-coco.py epoch_8.pth \\
        --work-dir work_dirs/retinanet_eval [--cfg-options k=v ...]
    python tools/deploy_test.py configs/deploy/classification_openvino_dynamic.py \
        configs/hgnetv2/hgnetv2-b0_1xb8-4e_tiny-in.py epoch_4.pth --work-dir work_dirs/cls_ov \
        --onnx work_dirs/cls_int8/end2end.onnx --openvino-model work_dirs/cls_int8/end2end_int8.xml

Writes WORK_DIR/deploy_eval_report.json; exits with 1 where a backend's metric is further from
PyTorch's than hgnet_backbones.deploy.evaluate.METRIC_TOLERANCE (0.5 percentage points in fp32, 1.0 in
bf16 and int8).
"""
import argparse
import shlex
import sys

from mmengine.config import DictAction

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis import load_config
from hgnet_backbones.fileio import write_generated_markdown
from hgnet_backbones.deploy.evaluate import evaluate, report_table



def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('deploy_cfg', help='an mmdeploy deploy config, e.g. from configs/deploy/')
    parser.add_argument('model_cfg')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir', required=True)
    parser.add_argument('--onnx', help='an ONNX file exported from this model (skips the export)')
    parser.add_argument('--openvino-model', metavar='XML',
                        help='an OpenVINO deploy config: evaluate this OpenVINO IR (e.g. the int8 one '
                        'of tools/quantize.py) instead of converting the ONNX file')
    parser.add_argument('--batch-size', type=int, default=1, help='images per network call')
    parser.add_argument('--device', default='cuda:0', help='where a TensorRT engine is built and '
                        'run (PyTorch and ONNX Runtime run on the CPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help="override the model config's entries, e.g. its dataset's data_root")
    parser.add_argument('--write-table', metavar='FILE',
                        help='also write the table to FILE, headed by a comment naming this command '
                        '(the docs include docs/_generated/deploy_eval_*.md)')
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    report = evaluate(args.deploy_cfg, load_config(args.model_cfg, args.cfg_options), args.checkpoint,
                      args.work_dir, onnx_file=args.onnx, batch_size=args.batch_size,
                      device=args.device, openvino_file=args.openvino_model)
    table = report_table(report)
    if args.write_table:
        command = 'python tools/deploy_test.py ' + shlex.join(argv if argv is not None else sys.argv[1:])
        write_generated_markdown(args.write_table, command, table)
    print()
    print(table)
    if not report['passed']:
        sys.exit(1)


if __name__ == '__main__':
    main()
