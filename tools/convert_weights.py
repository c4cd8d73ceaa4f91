"""Convert PaddleClas (.pdparams) or timm (hgnetv2_*) PP-HGNetV2 weights to an mmengine checkpoint.

    python tools/convert_weights.py PPHGNetV2_B4_ssld_stage1_pretrained.pdparams b4_stage1.pth
    python tools/convert_weights.py ssld_stage1 b4_stage1.pth --arch B4 --backbone-only
    python tools/convert_weights.py paddleclas://B0/ssld_stage2 b0.pth
"""
import argparse

from hgnet_backbones.weights import convert_checkpoint_file


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='a .pdparams/.pth/.safetensors file, an http(s) URL, '
                        'paddleclas://ARCH/WEIGHTS, or ssld_stage1/ssld_stage2 with --arch')
    parser.add_argument('dst', help='the mmengine checkpoint to write (.pth)')
    parser.add_argument('--arch', help='B0..B6: check the weights are of this variant')
    parser.add_argument('--backbone-only', action='store_true', help='drop the classifier head')
    args = parser.parse_args(argv)
    checkpoint = convert_checkpoint_file(args.src, args.dst, arch=args.arch,
                                         backbone_only=args.backbone_only)
    meta = checkpoint['meta']
    print(f"{args.dst}: HGNetV2-{meta['arch']} from {meta['source_format']} weights, "
          f"{len(checkpoint['state_dict'])} tensors")


if __name__ == '__main__':
    main()
