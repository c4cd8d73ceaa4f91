"""Classify an image, or every image in a folder, and print the top-k class ids, scores and label
names, as PaddleClas's predictor does.

    python tools/infer.py IMAGE_OR_DIR CONFIG CHECKPOINT [--topk 5] [--device cuda:0]

CHECKPOINT may be a .pth, a PaddleClas .pdparams, a URL or paddleclas://B4/ssld_stage2.
"""
import argparse
import json

from hgnet_backbones.apis import classify


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('image_or_dir')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument('--device', default=None)
    args = parser.parse_args(argv)
    results = classify(args.image_or_dir, args.config, args.checkpoint, args.topk, args.device)
    print()  # after the progress bar
    for result in results:
        print(json.dumps(result))


if __name__ == '__main__':
    main()
