"""Speed and memory of HGNetV2 against timm's hgnetv2_b* in the same run, written as a Markdown table,
a CSV and a chart of PaddleClas's ImageNet top-1 against the measured latency.

    python tools/benchmark.py                              # B0-B6 on the CPU
    python tools/benchmark.py --archs B0 B4 --device cuda  # fp32/fp16/bf16 on a GPU

Paths: timm eager (the baseline), ours eager, ours deploy (BN folded), + channels_last, + torch.compile
(Inductor with freezing; channels_last on a CPU), ONNX Runtime (CPU; its idle threads don't spin, so
they take no core from the next path timed), TensorRT (GPU, fp32 and fp16, where `tensorrt` >= 10 and
the deploy extra are installed). Each path's output is checked against our eager model before it is timed.
"""
import argparse
import shlex
import sys

import torch
from mmengine.utils import ProgressBar

from hgnet_backbones.benchmark import (GPU_PRECISIONS, INFERENCE_PATHS, model_sizes, run_inference,
                                       train_step_peak_memory, write_table)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--archs', nargs='+', default=['B0', 'B1', 'B2', 'B3', 'B4', 'B5', 'B6'])
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batches', nargs='+', type=int, default=[1, 8],
                        help='1 gives latency; larger batches give throughput')
    parser.add_argument('--paths', nargs='+', default=list(INFERENCE_PATHS), choices=INFERENCE_PATHS)
    parser.add_argument('--precisions', nargs='+', choices=GPU_PRECISIONS,
                        help='default: fp32 on the CPU, all three on a GPU')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--repeats', type=int, default=30)
    parser.add_argument('--memory-archs', nargs='*', default=['B0', 'B4'],
                        help='training-step peak memory with and without with_cp')
    parser.add_argument('--memory-batch', type=int, default=8)
    parser.add_argument('--no-sizes', action='store_true', help='skip the params/FLOPs table')
    parser.add_argument('--out-dir', default='work_dirs/benchmark')
    args = parser.parse_args(argv)
    precisions = args.precisions or (['fp32'] if args.device == 'cpu' else list(GPU_PRECISIONS))

    steps = len(args.archs) * len(precisions) * len(args.batches) \
        + 2 * len(args.memory_archs) + (0 if args.no_sizes else len(args.archs))
    bar = ProgressBar(steps)
    sizes = {}
    if not args.no_sizes:
        for arch in args.archs:
            sizes[arch] = model_sizes(arch)
            bar.update()
    results = run_inference(args.archs, args.device, args.batches, args.paths, precisions,
                            args.warmup, args.repeats, progress=lambda _: bar.update())
    memory = []
    for arch in args.memory_archs:
        row = dict(arch=arch, device=args.device, batch=args.memory_batch)
        for key, with_cp in (('plain', False), ('with_cp', True)):
            row[key] = train_step_peak_memory(arch, args.memory_batch, with_cp, args.device)
            bar.update()
        memory.append(row)
    command = 'python tools/benchmark.py ' + shlex.join(argv if argv is not None else sys.argv[1:])
    files = write_table(results, sizes, memory, args.out_dir, command)
    print()
    print(open(files['md']).read())
    print('wrote', ', '.join(files.values()))


if __name__ == '__main__':
    main()
