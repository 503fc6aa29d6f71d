# Copyright (c) mmattn contributors. All rights reserved.
"""Score a folder of proxy masks with SAL's coarse-to-fine mask scoring and
write the score file that ``WeakVOCDataset`` reads.

Coarse only (AC, CD, SC; Eq. 3-5)::

    python tools/score_masks.py \\
        --proxy-dir data/synthetic_seg/SegmentationClassProxy \\
        --ref-dir data/synthetic_seg/SaliencyRef \\
        --img-dir data/synthetic_seg/JPEGImages \\
        --ann-file data/synthetic_seg/ImageSets/Segmentation/train.txt \\
        --out work_dirs/scores/train_scores.json

With a trained scorer (adds P and SF = P * CD; Eq. 7), add
``--config configs/mask_scoring/<cfg>.py --checkpoint <ckpt>``. With
``--gt-dir`` the summary reports how SC and SF correlate with two true
qualities: the paper's (AC against the ground truth's binary foreground,
Fig. 9; ``correlation``) and a class-aware one (a proxy pixel overlaps the
ground truth only with the right class; ``correlation_class_aware``), plus
the Eq. 7 ceiling ``oracle_SF`` (SF if the network predicted the binary
ground-truth AC exactly).
"""
import argparse
import sys
from typing import Optional, Sequence

import mmattn  # noqa: F401  (registers the scorer and its transforms)
from mmattn.segmentation.mask_scoring import TRUTHS
from mmattn.segmentation.mask_scoring.folder_scoring import (
    score_folder, score_output_paths)
from mmattn.utils import CheckpointError


def parse_args(argv: Optional[Sequence[str]] = None):
    p = argparse.ArgumentParser(
        description='SAL coarse-to-fine mask scoring of proxy masks')
    p.add_argument('--proxy-dir', required=True,
                   help='proxy label maps <id>.png (VOC palette PNGs)')
    p.add_argument('--ref-dir', required=True,
                   help='reference (saliency) masks <id>.png, 0..255')
    p.add_argument('--img-dir', default=None,
                   help='images <id>.jpg; needed for the objectness term '
                   'and for the scoring network')
    p.add_argument('--ann-file', default=None,
                   help='list of image ids, one per line (default: every '
                   'PNG in --proxy-dir)')
    p.add_argument('--cls-labels', default=None,
                   help='cls_labels.npy (id -> 20-d tags); default: '
                   'cls_labels.npy next to --proxy-dir')
    p.add_argument('--gt-dir', default=None,
                   help='ground truth label maps, for the correlation of '
                   'SC/SF with the true quality (class-agnostic and '
                   'class-aware AC against ground truth)')
    p.add_argument('--config', default=None, help='scorer config')
    p.add_argument('--checkpoint', default=None, help='scorer checkpoint')
    p.add_argument('--device', default='cpu')
    p.add_argument('--batch-size', type=int, default=8)
    p.add_argument('--out', required=True, help='score file (.json)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an existing score file and its summary and '
                   'plots')
    p.add_argument('--tau', type=float, default=0.55,
                   help='selection threshold for the summary (paper: 0.55 '
                   'VGG16, 0.85 ResNet-101)')
    p.add_argument('--b', type=float, default=0.1,
                   help='objectness weight b of Eq. 3')
    p.add_argument('--num-classes', type=int, default=21)
    p.add_argument('--ignore-index', type=int, default=255)
    p.add_argument('--ref-threshold', type=int, default=128,
                   help='reference masks are foreground where >= this')
    p.add_argument('--plot-dir', default=None,
                   help='where the histogram/scatter PNGs and the summary '
                   'JSON go (default: next to --out)')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    if (args.config is None) != (args.checkpoint is None):
        p.error('--config and --checkpoint go together')
    if args.config is not None and args.img_dir is None:
        p.error('the scoring network needs --img-dir')
    if not 0 <= args.tau <= 1:
        p.error(f'--tau must be in [0, 1], got {args.tau}')
    return args


def output_paths(args) -> dict:
    """Every file the run writes: the score file, ``<stem>_summary.json``,
    ``<stem>_hist.png`` and, with ``--gt-dir``, ``<stem>_scatter.png``."""
    return score_output_paths(args.out, args.plot_dir, bool(args.gt_dir))


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    summary, _ = score_folder(
        args.proxy_dir, args.ref_dir, args.out, img_dir=args.img_dir,
        ann_file=args.ann_file, cls_labels=args.cls_labels,
        gt_dir=args.gt_dir, scorer_config=args.config,
        scorer_checkpoint=args.checkpoint, device=args.device,
        batch_size=args.batch_size, tau=args.tau, b=args.b,
        num_classes=args.num_classes, ignore_index=args.ignore_index,
        ref_threshold=args.ref_threshold, plot_dir=args.plot_dir,
        overwrite=args.overwrite, show_progress=not args.no_progress)
    hist_path, scatter_path = summary['hist'], summary['scatter']
    n = summary['num_images']
    print(f'\nscored {n} images -> {args.out}')
    print(f'pass tau={args.tau}: SC {summary["pass_SC"]}/{n}' +
          (f', SF {summary["pass_SF"]}/{n}'
           if summary['pass_SF'] is not None else ''))
    for key, truth in TRUTHS.values():
        for name, c in (summary.get(key) or {}).items():
            print(f'{name} vs true quality {truth}: Pearson '
                  f'{c["pearson"]:.4f}, Spearman {c["spearman"]:.4f}')
    if summary.get('oracle_SF'):
        print('ceiling of SF = P x CD with P = AC_gt (Pearson): ' + ', '.join(
            f'vs {k} {v:.4f}' for k, v in summary['oracle_SF'].items()))
    print(f'histogram: {hist_path}' +
          (f'\nscatter: {scatter_path}' if scatter_path else ''))
    return summary


if __name__ == '__main__':
    try:
        main()
    except (FileExistsError, FileNotFoundError, ValueError, KeyError,
            CheckpointError) as e:
        # The message names the offending file; a traceback adds nothing.
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
