# Copyright (c) mmattn contributors. All rights reserved.
"""Weakly supervised segmentation from image tags alone, measured: how good
are the CAM proxies, what does each step of ``tools/make_proxies.py`` add,
and does SAL-Net retraining on them beat plain cross-entropy?

The chain of docs/wsss_from_tags.md, on generated data, per training seed:

1. A folder with the images, the splits, ``cls_labels.npy`` and the
   ground truth (read only to score and for the ``GT`` reference run): no
   proxies, no saliency maps. The generator's own proxies and saliency
   references stay out of it.
2. The CAM classifier (``configs/wsss/cam_r18_tiny_synthetic.py`` plus the
   size overrides of :func:`cam_overrides`) trained on the tags through
   mmengine's Runner, from scratch (``--pretrain-iters N`` initialises every
   backbone from the classifier trained on the tags of a second, disjoint
   generated set instead: images and tags only, no mask anywhere).
3. ``tools/make_proxies.py`` (the tool, as a user runs it) writes the proxy
   masks and foreground references with its defaults except
   ``--bg-threshold`` (``--bg-threshold``, 0.5). The pseudo labels of
   the training images are scored against their ground truth at each step:
   the seed CAM (threshold background), after pixel-adaptive refinement,
   and after ignoring low-confidence pixels (mIoU on the pixels kept, and
   the share ignored); the seed CAM also at other background thresholds.
4. Segmenters retrained on those proxies, through the variant tables of
   ``benchmarks/sal_selection_benchmark.py`` (the shipped tiny SAL configs
   plus overrides, same size, schedule, initialisation and seed):

   ========  =============================================================
   ``CE``    plain cross-entropy on every proxy (its ``P2``)
   ``SAL``   ``tools/sal_pipeline.py``'s scores and tau (SF of the scorer
             it trains on these proxies, the best-scored half kept), then
             SAL-Net: selection loss, classification branch, Eq. 11,
             attention loss (its ``P5``)
   ``GT``    plain cross-entropy on the training images' ground truth (its
             ``clean``): what a user with masks would get
   ========  =============================================================

Targets (issue 13): refinement adds at least 5 mIoU points over the seed
CAM; SAL is not below plain CE (paired over seeds); the final val mIoU is
reported next to ``GT``::

    OMP_NUM_THREADS=1 python benchmarks/wsss_benchmark.py \\
        --work-dir work_dirs/wsss_benchmark --seeds 1 2 3

Everything is resumable: a finished step leaves its file
(``seed<S>/pseudo_labels.json``, ``seed<S>/seg/runs/<variant>_seed<S>.json``)
and is skipped on a rerun. ``--report-only`` writes ``results.md``,
``results.json`` and ``results.png`` from what is there.
"""
import argparse
import json
import math
import os
import os.path as osp
import platform
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

import mmattn  # noqa: E402,F401  (registers the modules)
import sal_selection_benchmark as sal_bench  # noqa: E402
from mmattn.experiment import (apply_overrides, load_config,  # noqa: E402
                               prepare_dataset, train_backbone, train_config,
                               without_validation)
from mmattn.segmentation.mask_scoring.metrics import (  # noqa: E402
    pearson_correlation, spearman_correlation)
from mmattn.segmentation.score_file import load_mask_scores  # noqa: E402
from mmattn.segmentation.wsss.proxies import (  # noqa: E402
    ProxyOptions, build_cam_pipeline, cam_to_proxy, load_cam_classifier,
    predict_cams)
from mmattn.synthetic import make_seg_dataset, resolve_class_ids  # noqa

CAM_CFG = osp.join(ROOT, 'configs', 'wsss', 'cam_r18_tiny_synthetic.py')
MAKE_PROXIES = osp.join(ROOT, 'tools', 'make_proxies.py')
#: this benchmark's name -> the selection benchmark's variant
SEG_VARIANTS = {'CE': 'P2', 'SAL': 'P5', 'GT': 'clean'}
PSEUDO_STEPS = ('seed', 'refined', 'proxy')
#: background thresholds the seed CAM is also scored at (sensitivity)
SEED_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--work-dir', default='work_dirs/wsss_benchmark')
    p.add_argument('--seeds', type=int, nargs='+', default=[1, 2, 3])
    p.add_argument('--num-images', type=int, default=600,
                   help='generated images, train + val (20%% val)')
    p.add_argument('--img-size', type=int, default=64)
    p.add_argument('--num-classes', type=int, default=2)
    p.add_argument('--data-seed', type=int, default=0)
    p.add_argument('--pretrain-data-seed', type=int, default=1)
    p.add_argument('--pretrain-iters', type=int, default=0,
                   help='initialise every backbone from the CAM classifier '
                   'trained this many iterations on the tags of a disjoint '
                   'set (default 0: every model from scratch; the pilot in '
                   'docs/benchmarks_wsss.md found such a backbone makes the '
                   'CAMs localise less)')
    p.add_argument('--cam-iters', type=int, default=1000)
    p.add_argument('--seg-iters', type=int, default=1000)
    p.add_argument('--backbone-width', type=int, default=32)
    p.add_argument('--bg-threshold', type=float, default=0.5,
                   help="make_proxies.py's --bg-threshold (its default is "
                   '0.3; 0.5 chosen on the seed-1 pilot, see the docs)')
    p.add_argument('--keep-fraction', type=float, default=0.5,
                   help="the pipeline's tau rule keeps this best-scored "
                   'share (its default)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--report-only', action='store_true')
    args = p.parse_args(argv)
    args.work_dir = osp.abspath(args.work_dir)
    if args.pretrain_iters and args.pretrain_data_seed == args.data_seed:
        p.error('--pretrain-data-seed must differ from --data-seed')
    return args


def seg_args(args, seed: int):
    """The selection benchmark's settings for this benchmark's retraining
    (its own parser, so they are validated the same way)."""
    return sal_bench.parse_args([
        '--work-dir', osp.join(args.work_dir, f'seed{seed}', 'seg'),
        '--seeds', str(seed), '--img-size', str(args.img_size),
        '--num-classes', str(args.num_classes), '--data-seed', str(seed),
        '--iters', str(args.seg_iters), '--backbone-width',
        str(args.backbone_width), '--pretrain-iters', '0',
        '--tau-rule', 'keep-fraction', '--keep-fraction',
        str(args.keep_fraction), '--threads', str(args.threads)
    ])


# --------------------------------------------------------------------- #
# data and the CAM classifier
# --------------------------------------------------------------------- #
def generate(args, out_dir: str, seed: int) -> str:
    """The generated dataset in ``out_dir`` (reused when it has these
    arguments); returns ``out_dir``."""
    prepare_dataset(
        make_seg_dataset, out_dir, num_images=args.num_images, seed=seed,
        img_size=(args.img_size, args.img_size),
        class_ids=resolve_class_ids(args.num_classes, None))
    return out_dir


def tags_only_folder(full: str, out: str) -> str:
    """A folder as a user with tags has it: images, splits, tags and the
    ground truth (val evaluation, scoring, the GT run), nothing else."""
    if osp.isdir(osp.join(out, 'ImageSets')):
        return out
    os.makedirs(out, exist_ok=True)
    for name in ('JPEGImages', 'SegmentationClass'):
        os.symlink(osp.join(full, name), osp.join(out, name))
    shutil.copytree(osp.join(full, 'ImageSets'), osp.join(out, 'ImageSets'))
    shutil.copy(osp.join(full, 'cls_labels.npy'), out)
    return out


def cam_overrides(cfg, args, data_root: str, iters: int,
                  backbone: str = None) -> dict:
    """The tiny CAM config at the benchmark's size: half-width R-18 at
    output stride 8 (the SAL configs' strides: 8x8 CAMs of 64 px images),
    crops of the image size, ``iters`` iterations."""
    size = (args.img_size, args.img_size)
    options = {
        'model.data_preprocessor.size': size,
        'model.backbone.base_channels': args.backbone_width,
        'model.backbone.strides': (1, 2, 1, 1),
        'model.backbone.dilations': (1, 1, 2, 4),
        'model.in_channels': 8 * args.backbone_width,
        'param_scheduler.0.end': iters,
        'train_cfg': dict(type='IterBasedTrainLoop', max_iters=iters,
                          val_interval=iters),
        'default_hooks.checkpoint.interval': iters,
        'default_hooks.logger.interval': max(1, min(50, iters // 10)),
    }
    for index, transform in enumerate(cfg.train_dataloader.dataset.pipeline):
        if transform['type'] == 'RandomResize':
            options[f'train_dataloader.dataset.pipeline.{index}.scale'] = size
        elif transform['type'] == 'RandomCrop':
            options[f'train_dataloader.dataset.pipeline.{index}.'
                    'crop_size'] = size
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        options[f'{loader}.dataset.data_root'] = data_root
        options[f'{loader}.num_workers'] = 0
        options[f'{loader}.persistent_workers'] = False
    if backbone:
        options['model.backbone.init_cfg'] = dict(type='Pretrained',
                                                  checkpoint=backbone)
    return options


def cam_config(args, data_root: str, iters: int, backbone: str = None,
               validate: bool = True):
    cfg = load_config(CAM_CFG)
    apply_overrides(cfg, cam_overrides(cfg, args, data_root, iters, backbone))
    return cfg if validate else without_validation(cfg)


def pretrain_backbone(args) -> str:
    """The CAM classifier's backbone trained on the tags of a disjoint
    generated set."""
    pre_dir = osp.join(args.work_dir, 'pretrain')
    ckpt = osp.join(pre_dir, 'backbone.pth')
    if osp.isfile(ckpt):
        return ckpt
    data_root = generate(args, osp.join(pre_dir, 'data'),
                         args.pretrain_data_seed)
    return train_backbone(cam_config(args, data_root, args.pretrain_iters),
                          ckpt)


def train_cam(args, seed: int, data_root: str, backbone: str) -> dict:
    """The seed's CAM classifier: its config file, checkpoint and the val
    seed mIoU its last validation reports."""
    cam_dir = osp.join(args.work_dir, f'seed{seed}', 'cam')
    record = osp.join(cam_dir, 'cam.json')
    if osp.isfile(record):
        with open(record) as f:
            return json.load(f)
    cfg = cam_config(args, data_root, args.cam_iters, backbone=backbone)
    result = train_config(cfg, cam_dir, seed, save_checkpoint=True)
    config_path = osp.join(cam_dir, 'cam_config.py')
    # The checkpoint loads into this config strictly (the init_cfg only
    # matters for training).
    cfg.model.backbone.init_cfg = None
    cfg.dump(config_path)
    row = dict(config=config_path,
               checkpoint=osp.join(cam_dir, f'iter_{args.cam_iters}.pth'),
               val_cam_mIoU=float(result.metrics.get('mIoU', float('nan'))),
               seconds=result.seconds)
    with open(record, 'w') as f:
        json.dump(row, f, indent=1)
    print(f'[wsss] seed {seed}: CAM classifier trained, val CAM seed mIoU '
          f'{row["val_cam_mIoU"]:.2f} ({result.seconds:.0f} s)', flush=True)
    return row


def make_proxies(seed: int, data_root: str, cam: dict, args) -> None:
    """``tools/make_proxies.py`` with its defaults (resumes by itself)."""
    cmd = [sys.executable, MAKE_PROXIES, cam['config'], cam['checkpoint'],
           data_root, '--bg-threshold', str(args.bg_threshold),
           '--no-progress']
    log_path = osp.join(args.work_dir, f'seed{seed}', 'make_proxies.log')
    print(f'[wsss] {" ".join(cmd)}  (log: {log_path})', flush=True)
    with open(log_path, 'a') as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f'make_proxies.py failed; see {log_path}')


# --------------------------------------------------------------------- #
# pseudo-label quality
# --------------------------------------------------------------------- #
def miou(areas: np.ndarray) -> float:
    """mIoU (%) over the classes present in the labels or predictions of
    ``areas`` (``(4, C)``: intersect, union, pred, label), as mmseg's
    IoUMetric averages."""
    from mmseg.evaluation.metrics import IoUMetric
    metrics = IoUMetric.total_area_to_metrics(
        *[torch.as_tensor(a) for a in areas], metrics=['mIoU'])
    return 100 * float(np.nanmean(metrics['IoU']))


def label_areas(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                ignore_index: int = 255) -> np.ndarray:
    """``(4, num_classes)`` intersect, union, predicted and true areas of
    one label map (mmseg's ``IoUMetric.intersect_and_union``), leaving out
    the pixels ignored in ``gt`` and those the prediction ignores (a proxy
    is scored on the pixels it labels)."""
    from mmseg.evaluation.metrics import IoUMetric
    pred = torch.from_numpy(np.asarray(pred, dtype=np.int64))
    target = torch.from_numpy(np.asarray(gt, dtype=np.int64)).masked_fill(
        pred == ignore_index, ignore_index)
    return np.stack([
        a.numpy() for a in IoUMetric.intersect_and_union(
            pred, target, num_classes, ignore_index)
    ])


def score_pseudo_labels(seed: int, data_root: str, cam: dict,
                        args) -> dict:
    """mIoU of the seed, refined and proxy labels of the training images
    against their ground truth, recomputed with the public pieces
    ``make_proxies.py`` runs (checked equal to the proxies it wrote)."""
    path = osp.join(args.work_dir, f'seed{seed}', 'pseudo_labels.json')
    if osp.isfile(path):
        with open(path) as f:
            return json.load(f)
    from mmattn.segmentation.mask_scoring.mask_io import (read_image,
                                                           read_label_map)
    model = load_cam_classifier(cam['config'], cam['checkpoint'])
    pipeline = build_cam_pipeline(model.cfg)
    tags = np.load(osp.join(data_root, 'cls_labels.npy'),
                   allow_pickle=True).item()
    with open(osp.join(data_root, 'ImageSets', 'Segmentation',
                       'train.txt')) as f:
        ids = f.read().split()
    num_classes = model.num_classes
    areas = {step: np.zeros((4, num_classes)) for step in PSEUDO_STEPS}
    per_image, ignored, mismatched = {}, [], 0
    sweep = {thr: np.zeros((4, num_classes)) for thr in SEED_THRESHOLDS}
    for image_id in ids:
        img_path = osp.join(data_root, 'JPEGImages', image_id + '.jpg')
        cams = predict_cams(model, pipeline, img_path, tags[image_id])
        rgb = np.ascontiguousarray(read_image(img_path)[..., ::-1])
        gt = read_label_map(osp.join(
            data_root, 'SegmentationClass', image_id + '.png'), num_classes)
        labels = cam_to_proxy(rgb, cams, tags[image_id],
                              ProxyOptions(bg_threshold=args.bg_threshold))
        for thr in SEED_THRESHOLDS:
            seed_only = cam_to_proxy(
                rgb, cams, tags[image_id],
                ProxyOptions(bg_threshold=thr, refine='none',
                             ignore='none')).seed
            sweep[thr] += label_areas(seed_only, gt, num_classes)
        written = read_label_map(
            osp.join(data_root, 'SegmentationClassProxy', image_id + '.png'),
            num_classes)
        mismatched += int(not np.array_equal(written, labels.proxy))
        for step in PSEUDO_STEPS:
            one = label_areas(getattr(labels, step), gt, num_classes)
            areas[step] += one
            if step == 'proxy':
                per_image[image_id] = miou(one)
        ignored.append(float(labels.ignored.mean()))
    result = {step: miou(areas[step]) for step in PSEUDO_STEPS}
    result.update(seed_by_threshold={str(t): miou(a)
                                     for t, a in sweep.items()},
                  ignored_fraction=float(np.mean(ignored)),
                  num_images=len(ids), per_image_proxy_mIoU=per_image,
                  differ_from_written=mismatched)
    with open(path, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'[wsss] seed {seed}: pseudo-label mIoU seed CAM '
          f'{result["seed"]:.2f}, refined {result["refined"]:.2f}, proxy '
          f'{result["proxy"]:.2f} on {100 * result["ignored_fraction"]:.1f}'
          '% fewer pixels', flush=True)
    return result


# --------------------------------------------------------------------- #
# one seed, the report
# --------------------------------------------------------------------- #
def run_seed(args, seed: int, full_data: str, backbone: str) -> dict:
    data_root = tags_only_folder(
        full_data, osp.join(args.work_dir, f'seed{seed}', 'data'))
    cam = train_cam(args, seed, data_root, backbone)
    make_proxies(seed, data_root, cam, args)
    pseudo = score_pseudo_labels(seed, data_root, cam, args)
    sargs = seg_args(args, seed)
    os.makedirs(osp.join(sargs.work_dir, 'runs'), exist_ok=True)
    selection = sal_bench.run_pipeline_scores(sargs, data_root, 'SF')
    scores = load_mask_scores(selection['score_file'])
    ids = sorted(scores)
    truth = [pseudo['per_image_proxy_mIoU'][i] for i in ids]
    sf = [scores[i]['SF'] for i in ids]
    kept = [t for t, s in zip(truth, sf) if s >= selection['tau']]
    row = dict(seed=seed, cam=cam, pseudo={
        k: v for k, v in pseudo.items() if k != 'per_image_proxy_mIoU'},
        selection=dict(
            tau=selection['tau'], kept=len(kept), total=len(ids),
            kept_proxy_mIoU=float(np.nanmean(kept)),
            all_proxy_mIoU=float(np.nanmean(truth)),
            pearson=pearson_correlation(np.array(sf), np.array(truth)),
            spearman=spearman_correlation(np.array(sf), np.array(truth))),
        runs={})
    for name, variant in SEG_VARIANTS.items():
        path = osp.join(sargs.work_dir, 'runs', f'{variant}_seed{seed}.json')
        if not osp.isfile(path):
            print(f'[wsss] seed {seed}: training {name}', flush=True)
            result = sal_bench.run_one(variant, seed, sargs, data_root,
                                       {'SF': selection}, backbone)
            with open(path, 'w') as f:
                json.dump(result, f, indent=1)
        with open(path) as f:
            row['runs'][name] = json.load(f)
    return row


def paired(rows: List[dict], a, b) -> dict:
    diffs = [b(r) - a(r) for r in rows]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) \
        if len(diffs) > 1 else float('nan')
    return dict(diffs=diffs, mean=statistics.fmean(diffs), se=se)


def format_report(args, rows: List[dict], meta: dict) -> str:
    lines = ['## From tags alone: WSSS benchmark\n']
    lines.append(f'{time.strftime("%Y-%m-%d %H:%M %Z")}; {platform.node()}, '
                 f'{os.cpu_count()} CPU cores, torch {torch.__version__}')
    lines.append(
        f'data: {meta["num_train"]} train / {meta["num_val"]} val generated '
        f'images {args.img_size}x{args.img_size}, classes {meta["classes"]}, '
        f'data seed {args.data_seed}; images and tags only (the generator\'s '
        'proxies and saliency maps unused). CAM classifier: R-18 (GN) width '
        f'{args.backbone_width} d8, {args.cam_iters} iterations; proxies: '
        f'make_proxies.py defaults but --bg-threshold {args.bg_threshold}. '
        f'Segmenters: {args.seg_iters} iterations; every backbone ' +
        (f'pretrained {args.pretrain_iters} iterations on the tags of data '
         f'seed {args.pretrain_data_seed}' if args.pretrain_iters else
         'from scratch') +
        '; mIoU = mean of the last 3 val evaluations.')
    lines.append('\n| seed | val CAM mIoU (bg 0.15) | seed CAM | refined | proxy '
                 '(labelled px) | ignored % | scorer Pearson (Spearman) '
                 'vs proxy mIoU | kept | kept / all proxy mIoU | CE | SAL | '
                 'GT | SAL - CE |')
    lines.append('| ' + ' | '.join(['---'] * 13) + ' |')
    for r in rows:
        p, s, runs = r['pseudo'], r['selection'], r['runs']
        lines.append(
            f'| {r["seed"]} | {r["cam"]["val_cam_mIoU"]:.2f} | '
            f'{p["seed"]:.2f} | {p["refined"]:.2f} | {p["proxy"]:.2f} | '
            f'{100 * p["ignored_fraction"]:.1f} | {s["pearson"]:.3f} '
            f'({s["spearman"]:.3f}) | {s["kept"]}/{s["total"]} | '
            f'{s["kept_proxy_mIoU"]:.2f} / {s["all_proxy_mIoU"]:.2f} | '
            f'{runs["CE"]["mIoU"]:.2f} | {runs["SAL"]["mIoU"]:.2f} | '
            f'{runs["GT"]["mIoU"]:.2f} | '
            f'{runs["SAL"]["mIoU"] - runs["CE"]["mIoU"]:+.2f} |')

    def mean(get):
        return statistics.fmean(get(r) for r in rows)

    lines.append(
        f'| mean | {mean(lambda r: r["cam"]["val_cam_mIoU"]):.2f} | '
        f'{mean(lambda r: r["pseudo"]["seed"]):.2f} | '
        f'{mean(lambda r: r["pseudo"]["refined"]):.2f} | '
        f'{mean(lambda r: r["pseudo"]["proxy"]):.2f} | '
        f'{100 * mean(lambda r: r["pseudo"]["ignored_fraction"]):.1f} | '
        f'{mean(lambda r: r["selection"]["pearson"]):.3f} | | | '
        f'{mean(lambda r: r["runs"]["CE"]["mIoU"]):.2f} | '
        f'{mean(lambda r: r["runs"]["SAL"]["mIoU"]):.2f} | '
        f'{mean(lambda r: r["runs"]["GT"]["mIoU"]):.2f} | |')
    lines.append('\nSeed CAM mIoU by background threshold (refine none, '
                 'ignore none): ' + '; '.join(
                     f'seed {r["seed"]}: ' + ', '.join(
                         f'{t} {v:.2f}' for t, v in
                         r['pseudo']['seed_by_threshold'].items())
                     for r in rows))
    lines.append('')
    def pseudo(step):
        return lambda r: r['pseudo'][step]

    def val(name):
        return lambda r: r['runs'][name]['mIoU']

    # (text, before, after, target on the mean difference or None)
    comparisons = [
        ('refinement - seed CAM >= +5 mIoU', pseudo('seed'),
         pseudo('refined'), 5),
        ('SAL not below plain CE (SAL - CE >= 0)', val('CE'), val('SAL'), 0),
        ('ignore - refined', pseudo('refined'), pseudo('proxy'), None),
        ('GT - SAL', val('SAL'), val('GT'), None),
    ]
    for text, before, after, target in comparisons:
        d = paired(rows, before, after)
        line = (f'{text}: {d["mean"]:+.2f} +- {d["se"]:.2f} SE (per seed '
                f'{", ".join(f"{x:+.2f}" for x in d["diffs"])})')
        if target is not None:
            line += f' -> {"met" if d["mean"] >= target else "MISSED"}'
        lines.append(line)
    contrast = [r['runs']['SAL']['attention']['mean_contrast'] for r in rows
                if 'attention' in r['runs']['SAL']]
    if contrast:
        lines.append('SAL class-attention contrast (d_s inside - outside '
                     'the class, val): ' +
                     ', '.join(f'{c:.3f}' for c in contrast))
    return '\n'.join(lines)


def plot(rows: List[dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, names, get, title in (
            (axes[0], PSEUDO_STEPS, lambda r, n: r['pseudo'][n],
             'pseudo labels of the training images vs ground truth'),
            (axes[1], tuple(SEG_VARIANTS),
             lambda r, n: r['runs'][n]['mIoU'], 'retrained, val mIoU')):
        for r in rows:
            ax.plot(names, [get(r, n) for n in names], marker='o',
                    label=f'seed {r["seed"]}')
        ax.set_title(title, fontsize=9)
        ax.set_ylabel('mIoU (%)')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    # A work dir keeps the settings of its first run (results of other
    # settings are never mixed into one report).
    sal_bench.check_settings(args)
    full_data = generate(args, osp.join(args.work_dir, 'data'),
                         args.data_seed)
    with open(osp.join(full_data, 'meta.json')) as f:
        meta = json.load(f)
    rows = []
    backbone = None
    if not args.report_only and args.pretrain_iters:
        backbone = pretrain_backbone(args)
    for seed in args.seeds:
        if args.report_only:
            path = osp.join(args.work_dir, f'seed{seed}', 'row.json')
            if osp.isfile(path):
                with open(path) as f:
                    rows.append(json.load(f))
            continue
        row = run_seed(args, seed, full_data, backbone)
        with open(osp.join(args.work_dir, f'seed{seed}', 'row.json'),
                  'w') as f:
            json.dump(row, f, indent=1)
        rows.append(row)
    if not rows:
        raise SystemExit(f'no finished seed in {args.work_dir}')
    report = format_report(args, rows, meta)
    with open(osp.join(args.work_dir, 'results.md'), 'w') as f:
        f.write(report + '\n')
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(settings=vars(args), rows=rows), f, indent=1,
                  default=str)
    plot(rows, osp.join(args.work_dir, 'results.png'))
    print(report, flush=True)


if __name__ == '__main__':
    main()
