# Copyright (c) mmattn contributors. All rights reserved.
"""Generate the synthetic datasets used by the demo, tests and benchmarks.

Examples::

    python tools/make_data.py det --out data/synthetic_det --num-images 400
    python tools/make_data.py seg --out data/synthetic_voc --num-images 300 \\
        --img-size 192 192 --num-classes 4 --seed 0

Both refuse to write into a non-empty folder unless ``--overwrite`` is
given; ``--overwrite`` deletes only the files listed in the folder's
``mmattn_manifest.json`` (what an earlier run generated there), so your own
files stay. See ``docs/generated_data.md`` for the layouts and the noise
model.
"""
import argparse
import json
import os.path as osp
import sys

try:
    from mmattn.synthetic import (DET_DIFFICULTIES, make_det_dataset,
                                  make_seg_dataset)
except ImportError:  # run from a source checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from mmattn.synthetic import (DET_DIFFICULTIES, make_det_dataset,
                                  make_seg_dataset)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Generate a synthetic COCO-style detection (det) or '
        'VOC-style weakly supervised segmentation (seg) dataset.')
    sub = parser.add_subparsers(dest='kind', required=True)
    defaults = dict(
        det=dict(num_images=400, img_size=(256, 256)),
        seg=dict(num_images=300, img_size=(192, 192)))
    for kind, help_text in (
        ('det', 'COCO-format shapes for mmdet CocoDataset'),
        ('seg', 'PASCAL-VOC-style masks, tags, proxy and saliency '
         'masks for mmseg PascalVOCDataset')):
        p = sub.add_parser(kind, help=help_text)
        p.add_argument('--out', required=True, help='output folder')
        p.add_argument(
            '--num-images',
            type=int,
            default=defaults[kind]['num_images'],
            help='images in train and val together (default: %(default)s)')
        p.add_argument('--seed', type=int, default=0, help='random seed')
        p.add_argument(
            '--img-size',
            type=int,
            nargs=2,
            metavar=('H', 'W'),
            default=defaults[kind]['img_size'],
            help='image height and width (default: %(default)s)')
        p.add_argument(
            '--val-fraction',
            type=float,
            default=0.2,
            help='share of val images, in (0, 1) (default: %(default)s)')
        p.add_argument(
            '--overwrite',
            action='store_true',
            help='replace a dataset generated in --out before: delete the '
            'files its mmattn_manifest.json lists, nothing else')
        p.add_argument(
            '--no-progress', action='store_true', help='hide the progress bar')
        if kind == 'det':
            p.add_argument(
                '--max-objects',
                type=int,
                default=6,
                help='most objects per image (default: %(default)s)')
            p.add_argument(
                '--difficulty',
                choices=DET_DIFFICULTIES,
                default='standard',
                help="'easy': 1-3 large plain objects, no clutter (the "
                "demo's data) (default: %(default)s)")
        else:
            classes = p.add_mutually_exclusive_group()
            classes.add_argument(
                '--num-classes',
                type=int,
                default=None,
                help='foreground classes, VOC indices 1..N, N <= 20 '
                '(default: 4)')
            classes.add_argument(
                '--class-ids',
                type=int,
                nargs='+',
                default=None,
                help='foreground VOC indices to use instead, e.g. 1 7 '
                '(plain rectangles, striped ellipses)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    common = dict(
        out_dir=args.out,
        num_images=args.num_images,
        seed=args.seed,
        img_size=tuple(args.img_size),
        val_fraction=args.val_fraction,
        overwrite=args.overwrite,
        show_progress=not args.no_progress)
    try:
        if args.kind == 'det':
            summary = make_det_dataset(
                max_objects=args.max_objects,
                difficulty=args.difficulty,
                **common)
        else:
            summary = make_seg_dataset(
                num_classes=args.num_classes,
                class_ids=args.class_ids,
                **common)
    except (ValueError, TypeError, FileExistsError, NotADirectoryError) as err:
        print(f'make_data.py {args.kind}: error: {err}', file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
