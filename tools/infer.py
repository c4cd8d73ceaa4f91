"""Predict on an image, or every image in a folder, with a classification or segmentation config.

    python tools/infer.py IMAGE_OR_DIR CONFIG CHECKPOINT [--topk 5] [--device cuda:0]
    python tools/infer.py IMAGE_OR_DIR SEG_CONFIG CHECKPOINT --out-dir DIR [--opacity 0.5]

An mmpretrain config prints the top-k class ids, scores and label names of each image, as PaddleClas's
predictor does. An mmseg config writes DIR/<image name>.png, the predicted classes painted over the
image in colour, and prints the share of each predicted class.
CHECKPOINT may be a .pth, a PaddleClas .pdparams, a URL or paddleclas://B4/ssld_stage2.
"""
import argparse
import json

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis import classify, codebase_of, load_config, segment


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image_or_dir')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--topk', type=int, default=5, help='classification: classes to print')
    parser.add_argument('--out-dir', help='segmentation: where the overlays go')
    parser.add_argument('--opacity', type=float, default=0.5, help='segmentation: of the colours')
    parser.add_argument('--device', default=None)
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    if codebase_of(load_config(args.config)) == 'mmseg':
        if not args.out_dir:
            parser.error(f'{args.config} is a segmentation config: give --out-dir for the overlays')
        results = segment(args.image_or_dir, args.config, args.checkpoint, args.out_dir,
                          opacity=args.opacity, device=args.device)
    else:
        results = classify(args.image_or_dir, args.config, args.checkpoint, args.topk, args.device)
    print()  # after the progress bar
    for result in results:
        print(json.dumps(result))


if __name__ == '__main__':
    main()
