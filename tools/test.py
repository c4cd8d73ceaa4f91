"""Evaluate a checkpoint on a config's test set (mmpretrain, mmdet or mmseg).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out preds.pkl] [--show-dir DIR] [--tta]
        [--cfg-options k=v ...]
    tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS [...]   # several processes (torchrun), CPU or GPU

Prints the metrics as JSON. --out pickles the predictions (mmengine's DumpResults; mmdet's
DumpDetResults), --show-dir draws them with the codebase's visualization hook, --tta tests with the
codebase's test-time augmentation (the config's tta_model and tta_pipeline, else horizontal flips).
CHECKPOINT may be a .pth, a PaddleClas .pdparams, a URL or paddleclas://B4/ssld_stage2.
"""
import argparse
import json
import os

from mmengine.config import DictAction

from hgnet_backbones import use_safe_checkpoint_loading
from hgnet_backbones.apis import test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir')
    parser.add_argument('--out', help='pickle the predictions to this .pkl file')
    parser.add_argument('--show-dir', help='draw the predictions on the test images in this folder')
    parser.add_argument('--tta', action='store_true', help='test-time augmentation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    use_safe_checkpoint_loading()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    metrics = test(args.config, args.checkpoint, work_dir=args.work_dir, launcher=args.launcher,
                   cfg_options=args.cfg_options, out=args.out, show_dir=args.show_dir, tta=args.tta)
    print(json.dumps(metrics, indent=1, default=float))


if __name__ == '__main__':
    main()
