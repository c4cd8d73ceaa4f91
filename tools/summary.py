"""Build every HGNetV2 variant and print its parameters, FLOPs and stage outputs; then build one model of
each codebase (mmpretrain, mmdet, mmseg) from this project's configs and run it once.

    python tools/summary.py [--archs B0 B4] [--configs CFG ...]
"""
import argparse
from pathlib import Path

from hgnet_backbones.analysis import backbone_summary, count_params
from hgnet_backbones.apis.config import build_model, codebase_of, load_config, tensor_outputs
from hgnet_backbones.models import HGNetV2

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
DEFAULT_CONFIGS = [
    CONFIGS / 'hgnetv2/hgnetv2-b0_8xb128_in1k.py',
    CONFIGS / 'retinanet/retinanet_hgnetv2-b0_fpn_1x_coco.py',
    CONFIGS / 'upernet/upernet_hgnetv2-b0_4xb4-160k_ade20k-512x512.py',
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--archs', nargs='+', default=list(HGNetV2.arch_zoo))
    parser.add_argument('--configs', nargs='*', default=[str(c) for c in DEFAULT_CONFIGS])
    args = parser.parse_args(argv)

    print('| arch | params (M) | FLOPs @224 (G) | stage outputs @224 (C x H x W) |')
    print('|---|---|---|---|')
    for arch in args.archs:
        s = backbone_summary(arch)
        shapes = ', '.join('x'.join(map(str, shape[1:])) for shape in s['out_shapes'])
        print(f"| {arch} | {s['params'] / 1e6:.2f} | {s['flops'] / 1e9:.2f} | {shapes} |")

    for path in args.configs:
        cfg = load_config(path)
        model = build_model(cfg)
        size = (1, 3, 256, 320) if codebase_of(cfg) != 'mmpretrain' else (1, 3, 224, 224)
        shapes = tensor_outputs(model, size)
        print(f'\n{codebase_of(cfg)}: {Path(path).name} -> {type(model).__name__} with '
              f'{type(model.backbone).__name__}-{model.backbone.arch_name}, '
              f'{count_params(model) / 1e6:.2f}M params; outputs for {size}: {shapes[:6]}'
              f'{" ..." if len(shapes) > 6 else ""}')


if __name__ == '__main__':
    main()
