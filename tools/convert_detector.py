"""Convert a published HGNetV2 detector checkpoint to an mmengine checkpoint of this package's model,
and name the config to build that model from.

    python tools/convert_detector.py rtdetr_hgnetv2_l_6x_coco.pdparams rtdetr_l.pth
    python tools/convert_detector.py dfine_hgnetv2_l_coco.pth dfine_l.pth
    python tools/convert_detector.py dfine-large-coco/model.safetensors dfine_l.pth

The layout is recognised from the key names and shapes: D-FINE and DEIM releases (their EMA weights),
transformers' D-FINE, RT-DETR-L/X from PaddleDetection, RT-DETR(v2) L/X/H from lyuwenyu/RT-DETR's
PyTorch code, transformers' RT-DETRv2 (its backbone left out). Nothing in the file is run.
"""
import argparse

from hgnet_backbones.weights import CheckpointError
from hgnet_backbones.weights.convert.detector import convert_detector_file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='the published checkpoint (.pth, .pdparams, .safetensors)')
    parser.add_argument('dst', help='the mmengine checkpoint to write (.pth)')
    args = parser.parse_args(argv)
    try:
        info = convert_detector_file(args.src, args.dst)
    except CheckpointError as e:  # the message says what the file is and what to do
        parser.exit(1, f'{parser.prog}: {e}\n')
    print(f"layout: {info['layout']} ({info['what']})")
    print(f"variant: {info['variant']}, {info['num_classes']} classes")
    left_out = info['left_out']
    print(f"{args.dst}: {info['tensors']} tensors written; {len(left_out)} left out"
          + (f" ({', '.join(left_out[:4])}{', ...' if len(left_out) > 4 else ''})" if left_out else ''))
    print(f"config: {info['config']}")


if __name__ == '__main__':
    main()
