# Copyright (c) mmattn contributors. All rights reserved.
"""COCO bbox AP of HAR-Net against RetinaNet on the generated shapes data.

Trains the two tiny twin configs
(``configs/harnet/harnet_r18_tiny_synthetic.py`` and
``configs/harnet/retinanet_r18_tiny_synthetic.py``: R-18 with GN from
scratch, 64-channel FPN, 2 tower convs, the paper's Soft-NMS + box voting)
with the same schedule, data and seeds through mmengine's ``Runner``, and
evaluates COCO bbox AP with mmdet's ``CocoMetric`` (pycocotools) on the val
split. Only the attention differs. One dataset is generated (data seed
fixed); the training seeds change the initialisation and the data order.
The models alternate inside each seed (A, B for even seeds, B, A for odd
ones) so that drifting machine load does not favour one of them.

    python benchmarks/harnet_synthetic_ap.py
    python benchmarks/harnet_synthetic_ap.py --seeds 0 1 2 --iters 240 \\
        --num-images 300 --img-size 192 --work-dir work_dirs/harnet_ap

The schedule is the configs' (linear warm-up, two x0.1 steps, SGD lr 0.02,
batch 8) with ``--iters`` iterations: the configs' 100-iteration linear
warm-up (at most half the run), steps at 75 % and 92 %. A run whose model
detects nothing scores AP 0 (CocoMetric returns no keys then). Prints a
table (mean, std, min-max over seeds of AP, AP50, AP_small), writes
``results.json`` and ``ap_bars.png`` into the work dir. Results are
recorded in docs/benchmarks_harnet.md.
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import time
from typing import Dict, List

import torch
from mmengine.config import Config

import mmattn  # noqa: F401  (registers the HAR-Net modules)
from mmattn.experiment import (apply_overrides, load_config,
                               shorten_schedule, train_config)
from mmattn.synthetic import SYNTHETIC_DET_CLASSES, make_det_dataset

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'RetinaNet':
    osp.join(ROOT, 'configs', 'harnet', 'retinanet_r18_tiny_synthetic.py'),
    'HAR-Net':
    osp.join(ROOT, 'configs', 'harnet', 'harnet_r18_tiny_synthetic.py'),
}
METRICS = (('AP', 'coco/bbox_mAP'), ('AP50', 'coco/bbox_mAP_50'),
           ('AP_small', 'coco/bbox_mAP_s'))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2],
                   help='training seeds (init and data order)')
    p.add_argument('--iters', type=int, default=240,
                   help='training iterations per run (batch --batch-size)')
    p.add_argument('--num-images', type=int, default=300,
                   help='generated images (80 %% train, 20 %% val)')
    p.add_argument('--img-size', type=int, default=192,
                   help='square image side of the generated data and the '
                   'resize scale')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--data-seed', type=int, default=0,
                   help='seed of the generated dataset (fixed across runs)')
    p.add_argument('--deform-impl', choices=['mmcv', 'torch'], default=None,
                   help="override HAR-Net's deformable conv implementation "
                   '(default: the config\'s)')
    p.add_argument('--threads', type=int, default=1,
                   help='torch intra-op threads; on a loaded 2-core machine '
                   '1 is much faster than 2 (no spinning OpenMP workers)')
    p.add_argument('--workers', type=int, default=1,
                   help='dataloader workers per loader')
    p.add_argument('--work-dir', default='work_dirs/harnet_synthetic_ap')
    return p.parse_args()


def build_cfg(name: str, args, data_root: str) -> Config:
    """The twin config with the benchmark's data and schedule."""
    scale = (args.img_size, args.img_size)
    ann_val = osp.join(data_root, 'annotations', 'instances_val.json')
    cfg = load_config(CONFIGS[name], {
        'val_evaluator.ann_file': ann_val,
        'test_evaluator.ann_file': ann_val
    })
    overrides = {}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        overrides.update({
            f'{loader}.batch_size': args.batch_size,
            f'{loader}.num_workers': args.workers,
            f'{loader}.persistent_workers': args.workers > 0,
            f'{loader}.dataset.data_root': data_root,
            f'{loader}.dataset.metainfo': dict(classes=SYNTHETIC_DET_CLASSES),
        })
        for index, step in enumerate(cfg[loader].dataset.pipeline):
            if step['type'] == 'Resize':
                overrides[f'{loader}.dataset.pipeline.{index}.scale'] = scale
    if name == 'HAR-Net' and args.deform_impl is not None:
        overrides['model.neck.aligned_attention.deform_impl'] = \
            args.deform_impl
    apply_overrides(cfg, overrides)
    shorten_schedule(cfg, args.iters,
                     warmup=max(1, min(100, args.iters // 2)),
                     milestones=(0.75, 0.92))
    return cfg


def summarise(values: List[float]) -> Dict[str, float]:
    return dict(
        mean=statistics.mean(values),
        std=statistics.stdev(values) if len(values) > 1 else 0.0,
        min=min(values),
        max=max(values))


def print_table(results: Dict[str, List[Dict[str, float]]], seeds) -> str:
    lines = [
        '| model | ' + ' | '.join(f'{m} mean ± std (min-max)'
                                  for m, _ in METRICS) +
        ' | train s/run |',
        '| --- |' + ' --- |' * (len(METRICS) + 1),
    ]
    for name, runs in results.items():
        cells = []
        for label, _ in METRICS:
            s = summarise([100 * r[label] for r in runs])
            cells.append(f"{s['mean']:.1f} ± {s['std']:.1f} "
                         f"({s['min']:.1f}-{s['max']:.1f})")
        secs = statistics.median(r['seconds'] for r in runs)
        lines.append(f'| {name} | ' + ' | '.join(cells) + f' | {secs:.0f} |')
    per_seed = ['', '| seed | ' + ' | '.join(
        f'{n} AP' for n in results) + ' | delta AP |',
        '| --- |' + ' --- |' * (len(results) + 1)]
    names = list(results)
    for i, seed in enumerate(seeds):
        aps = [100 * results[n][i]['AP'] for n in names]
        delta = aps[-1] - aps[0]
        per_seed.append(f'| {seed} | ' + ' | '.join(f'{a:.1f}' for a in aps) +
                        f' | {delta:+.1f} |')
    text = '\n'.join(lines + per_seed)
    print(text)
    return text


def plot(results: Dict[str, List[Dict[str, float]]], path: str,
         title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    width = 0.8 / len(results)
    for k, (name, runs) in enumerate(results.items()):
        xs = [i + (k - (len(results) - 1) / 2) * width
              for i in range(len(METRICS))]
        means, stds = [], []
        for i, (label, _) in enumerate(METRICS):
            vals = [100 * r[label] for r in runs]
            s = summarise(vals)
            means.append(s['mean'])
            stds.append(s['std'])
            ax.scatter([xs[i]] * len(vals), vals, s=10, color='black',
                       zorder=3)
        ax.bar(xs, means, width, yerr=stds, capsize=3, label=name)
    ax.set_xticks(range(len(METRICS)))
    ax.set_xticklabels([label for label, _ in METRICS])
    ax.set_ylabel('COCO bbox AP (%)')
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    os.makedirs(args.work_dir, exist_ok=True)
    data_root = osp.abspath(osp.join(args.work_dir, 'data'))
    summary = make_det_dataset(
        data_root,
        num_images=args.num_images,
        seed=args.data_seed,
        img_size=(args.img_size, args.img_size),
        overwrite=True)  # the benchmark's own folder, same args each run
    print(f'data: {data_root} {summary}')
    names = list(CONFIGS)
    results: Dict[str, List[Dict[str, float]]] = {n: [] for n in names}
    start = time.time()
    for i, seed in enumerate(args.seeds):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            cfg = build_cfg(name, args, data_root)
            t0 = time.time()
            metrics = train_config(
                cfg, osp.join(args.work_dir, f'{name.lower()}_seed{seed}'),
                seed).metrics
            # CocoMetric returns no keys when the model detects nothing
            # (an under-trained run): that is AP 0, not a crash.
            row = {label: float(metrics.get(key, 0.0))
                   for label, key in METRICS}
            row['empty'] = not metrics
            row['seconds'] = time.time() - t0
            results[name].append(row)
            print(f'[{time.time() - start:.0f}s] {name} seed {seed}: '
                  + ', '.join(f'{k}={v:.4f}' for k, v in row.items()
                              if k != 'empty')
                  + (' (no detections)' if row['empty'] else ''),
                  flush=True)
    header = (f'{len(args.seeds)} seeds, {args.iters} iters x batch '
              f'{args.batch_size}, {args.num_images} images '
              f'{args.img_size}px, torch {torch.__version__}, '
              f'{args.threads} thread(s), {platform.processor() or "cpu"}')
    print(header)
    table = print_table(results, args.seeds)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(args=vars(args), runs=results, table=table,
                       header=header), f, indent=2)
    plot(results, osp.join(args.work_dir, 'ap_bars.png'),
         f'Synthetic shapes, tiny R-18: {header.split(", torch")[0]}')
    print(f'wrote {args.work_dir}/results.json and ap_bars.png '
          f'({time.time() - start:.0f}s)')


if __name__ == '__main__':
    main()
