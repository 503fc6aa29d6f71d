# Copyright (c) mmattn contributors. All rights reserved.
"""Check a weakly supervised segmentation folder (VOC layout) before
training, and print what is wrong, file by file.

Examples::

    python tools/check_dataset.py data/synthetic_seg
    python tools/check_dataset.py data/synthetic_seg \\
        --score-file mask_scores.json --required-scores SC
    python tools/check_dataset.py data/my_data --num-classes 4 \\
        --mask-dir SegmentationClassProxy --img-suffix .png

It checks what ``WeakVOCDataset`` needs: every image of the split exists and
decodes; its label mask is a single-channel PNG of the image's size with
labels in ``0 .. num_classes - 1`` or the ignore index; ``cls_labels.npy``
tags it; and, with ``--score-file``, the score file scores it (with the
``--required-scores`` fields), for the very masks in the folder
(fingerprints). Exit status 0: no problem; 1: problems (listed); 2: bad
arguments. Warnings (e.g. a score file without fingerprints) do not change
the status.
"""
import argparse
import os.path as osp
import sys

try:
    from mmattn.segmentation.datasets import check_weak_seg_folder
except ImportError:  # run from a source checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from mmattn.segmentation.datasets import check_weak_seg_folder


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Check a VOC-layout weak segmentation folder (images, '
        'label masks, cls_labels.npy, score file) before training.')
    p.add_argument('data_root', help='the dataset folder')
    p.add_argument(
        '--ann-file',
        default='ImageSets/Segmentation/train.txt',
        help='split file, relative to data_root (default: %(default)s)')
    p.add_argument(
        '--img-dir',
        default='JPEGImages',
        help='image folder (default: %(default)s)')
    p.add_argument(
        '--mask-dir',
        default='SegmentationClassProxy',
        help='label mask folder (default: %(default)s)')
    p.add_argument('--img-suffix', default='.jpg')
    p.add_argument('--mask-suffix', default='.png')
    p.add_argument(
        '--tag-file',
        default='cls_labels.npy',
        help='image tags (default: %(default)s)')
    p.add_argument(
        '--no-tags', action='store_true', help='do not check image tags')
    p.add_argument(
        '--score-file',
        default=None,
        help='mask score file to check, relative to data_root or absolute')
    p.add_argument(
        '--required-scores',
        nargs='+',
        default=['SF'],
        help="score fields every image needs, as the dataset's "
        "required_scores (default: SF; SC for a coarse-only file)")
    p.add_argument(
        '--num-classes',
        type=int,
        default=21,
        help='classes including the background (default: %(default)s)')
    p.add_argument('--ignore-index', type=int, default=255)
    p.add_argument(
        '--max-lines',
        type=int,
        default=50,
        help='problems printed at most (default: %(default)s)')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        report = check_weak_seg_folder(
            args.data_root,
            ann_file=args.ann_file,
            img_dir=args.img_dir,
            mask_dir=args.mask_dir,
            img_suffix=args.img_suffix,
            mask_suffix=args.mask_suffix,
            tag_file=None if args.no_tags else args.tag_file,
            score_file=args.score_file,
            required_scores=args.required_scores,
            num_classes=args.num_classes,
            ignore_index=args.ignore_index)
    except ValueError as err:
        print(f'check_dataset.py: error: {err}', file=sys.stderr)
        return 2
    for kind, lines in (('WARNING', report.warnings), ('ERROR',
                                                       report.problems)):
        for line in lines[:args.max_lines]:
            print(f'{kind} {line}')
        if len(lines) > args.max_lines:
            print(f'{kind} ... and {len(lines) - args.max_lines} more')
    verdict = 'OK' if report.ok else 'FAILED'
    print(f'{verdict}: {args.data_root}: {report.num_images} image(s) '
          f'checked, {len(report.problems)} problem(s), '
          f'{len(report.warnings)} warning(s)')
    return 0 if report.ok else 1


if __name__ == '__main__':
    sys.exit(main())
