# Copyright (c) mmattn contributors. All rights reserved.
"""Synthesise the mask scorer's training set (SAL Sec. III-B.2, Fig. 5)
from a VOC-style folder with proxy and reference masks::

    python tools/synthesize_scoring_set.py \\
        --data-root data/synthetic_seg --split train \\
        --out data/synthetic_seg/scoring_set

Writes ``train.json``/``val.json`` for ``MaskScoringDataset``, the masks and
composite images, and ``summary.json``; prints the summary. The library
function is ``mmattn.segmentation.mask_scoring.synthesize_scoring_set``; see
docs/mask_scoring.md. A bad input (missing folder, mask of another size,
existing output without ``--overwrite``) stops with one line naming the
file, and exit status 1.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Optional, Sequence

from mmattn.segmentation.mask_scoring import (SynthesisConfig, read_id_list,
                                              synthesize_scoring_set)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Synthesise the mask-scoring training set (SAL Sec. '
        'III-B.2) from a VOC-style folder with proxy and reference masks.')
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--split', default='train',
                        help='ImageSets/Segmentation/<split>.txt ids')
    parser.add_argument('--proxy-subdir', default='SegmentationClassProxy')
    parser.add_argument('--ref-subdir', default='SaliencyRef')
    parser.add_argument('--img-subdir', default='JPEGImages')
    parser.add_argument('--gt-subdir', default='SegmentationClass')
    parser.add_argument('--with-gt', action='store_true',
                        help='record AC against ground truth as well')
    parser.add_argument('--target', choices=('reference', 'gt'),
                        default='reference')
    parser.add_argument('--ops', nargs='+', default=['erode', 'erase'],
                        help="degradations; the paper's are erode erase, "
                        'dilate is our opt-in extension')
    parser.add_argument('--intermediate-ratio', type=float, default=0.75,
                        help='intermediate samples per positive (paper: '
                        '0.75)')
    parser.add_argument('--paste-ratio', type=float, default=0.5,
                        help='cut-paste samples per positive (paper: 0.5)')
    parser.add_argument('--class-aware', action='store_true',
                        help='label-map masks and relabelled samples, for a '
                        'class-aware scorer (an mmattn extension)')
    parser.add_argument('--relabel-ratio', type=float, default=None,
                        help='relabelled samples per positive (default 0.5 '
                        'with --class-aware)')
    parser.add_argument('--num-classes', type=int, default=21,
                        help='classes of the label maps, background '
                        'included (VOC: 21)')
    parser.add_argument('--val-fraction', type=float, default=0.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--overwrite', action='store_true')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    ids = read_id_list(
        osp.join(args.data_root, 'ImageSets', 'Segmentation',
                 f'{args.split}.txt'))
    cfg = SynthesisConfig(ops=args.ops, target=args.target,
                          intermediate_ratio=args.intermediate_ratio,
                          paste_ratio=args.paste_ratio,
                          val_fraction=args.val_fraction,
                          class_aware=args.class_aware,
                          relabel_ratio=args.relabel_ratio)
    with_gt = args.with_gt or args.target == 'gt'
    summary = synthesize_scoring_set(
        args.out,
        proxy_dir=osp.join(args.data_root, args.proxy_subdir),
        ref_dir=osp.join(args.data_root, args.ref_subdir),
        img_dir=osp.join(args.data_root, args.img_subdir),
        gt_dir=osp.join(args.data_root, args.gt_subdir) if with_gt else None,
        image_ids=ids, cfg=cfg, seed=args.seed,
        num_classes=args.num_classes, overwrite=args.overwrite)
    print(json.dumps({k: v for k, v in summary.items()
                      if k != 'source_scores'}, indent=1))
    return summary


if __name__ == '__main__':
    try:
        main()
    except (FileExistsError, FileNotFoundError, ValueError) as e:
        # The message names the offending file; a traceback adds nothing.
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)
