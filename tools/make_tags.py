# Copyright (c) mmattn contributors. All rights reserved.
"""Write ``cls_labels.npy`` (image id -> 0/1 foreground tags, the IRN/SEAM
convention that ``WeakVOCDataset``, ``tools/score_masks.py`` and
``tools/sal_pipeline.py`` read) from the image tags you have.

Examples::

    python tools/make_tags.py data/my_data/tags.csv \\
        --out data/my_data/cls_labels.npy
    python tools/make_tags.py data/my_data/tags.json --classes classes.txt \\
        --out data/my_data/cls_labels.npy
    python tools/make_tags.py data/my_data/tags/ \\
        --out data/my_data/cls_labels.npy
    python tools/make_tags.py annotations/instances_train.json \\
        --coco-classes --out data/my_coco/cls_labels.npy --empty skip

Sources (the format comes from the suffix, or ``--format``):

- CSV (``.csv``, ``.tsv``, ``.txt``): a row per image, the id (or file name)
  first, then class names, one per cell or several in one cell separated by
  spaces, ``;`` or ``|``; an optional header row (``image_id,...``);
- JSON: ``{"<id>": ["cat", "dog"], ...}`` or
  ``[{"image_id": "<id>", "tags": [...]}, ...]``;
- a folder of ``<id>.txt`` files, one per image, holding its class names;
- a COCO instances json (an image is tagged with its annotations'
  categories).

The classes are VOC's 20 by default; ``--classes FILE`` gives yours (one
name per line in label order, an optional first line ``background``), and
``--coco-classes`` takes a COCO file's categories. Every problem (an unknown
class name, an image id given twice, an image without tags, an image of
``--img-dir``/``--split`` that has no tags) is listed at once, naming the
file and line or the image, and nothing is written. An existing output is
never replaced without ``--overwrite``. Exit status 0: written; 1: problems
in the input (listed); 2: bad arguments.
"""
import argparse
import os.path as osp
import sys

try:
    from mmattn.segmentation.wsss.tags import TAG_FORMATS, make_cls_labels
except ImportError:  # run from a source checkout that is not installed
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from mmattn.segmentation.wsss.tags import TAG_FORMATS, make_cls_labels


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description='Write cls_labels.npy (image id -> 0/1 foreground tags) '
        'from a CSV/JSON of image tags, a folder of per-image tag files or '
        'a COCO instances json.')
    p.add_argument('source', help='the tag CSV/JSON file, folder or COCO json')
    p.add_argument(
        '--out', required=True, help='the cls_labels.npy file to write')
    p.add_argument(
        '--format',
        choices=TAG_FORMATS,
        default=None,
        help='the source format (default: from the suffix; a .json with '
        'images, annotations and categories is COCO)')
    classes = p.add_mutually_exclusive_group()
    classes.add_argument(
        '--classes',
        default=None,
        metavar='FILE',
        help='class list: one foreground class per line in label order, '
        'optional first line "background" (default: VOC\'s 20 classes)')
    classes.add_argument(
        '--coco-classes',
        action='store_true',
        help='COCO source: its categories, in category-id order, are the '
        'classes')
    p.add_argument(
        '--empty',
        choices=('error', 'zeros', 'skip'),
        default='error',
        help='an image without tags: an error, an all-zero vector '
        '(background only), or left out (default: %(default)s)')
    p.add_argument(
        '--img-dir',
        default=None,
        help='image folder: every image in it must have tags')
    p.add_argument(
        '--split',
        default=None,
        help='id list (one id per line, e.g. ImageSets/Segmentation/'
        'train.txt): every id in it must have tags')
    p.add_argument(
        '--tag-suffix',
        default='.txt',
        help='folder source: suffix of the tag files (default: %(default)s)')
    p.add_argument(
        '--ids-out',
        default=None,
        help='also write the tagged image ids, one per line (e.g. as the '
        'training split)')
    p.add_argument(
        '--overwrite',
        action='store_true',
        help='replace existing output files')
    p.add_argument(
        '--quiet', action='store_true', help='print nothing when it works')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        summary = make_cls_labels(
            args.source,
            args.out,
            fmt=args.format,
            class_file=args.classes,
            coco_classes=args.coco_classes,
            empty=args.empty,
            img_dir=args.img_dir,
            split=args.split,
            tag_suffix=args.tag_suffix,
            ids_out=args.ids_out,
            overwrite=args.overwrite)
    except (FileNotFoundError, FileExistsError, IsADirectoryError,
            ValueError) as err:
        # TagSourceError is a ValueError: problems of the input, status 1;
        # the rest are arguments (a missing file, an existing output).
        from mmattn.segmentation.wsss.tags import TagSourceError
        print(f'make_tags.py: error: {err}', file=sys.stderr)
        return 1 if isinstance(err, TagSourceError) else 2
    if not args.quiet:
        counts = ', '.join(f'{k} {v}'
                           for k, v in summary['class_counts'].items())
        print(f"wrote {summary['out']}: {summary['num_images']} images, "
              f"{summary['num_classes']} classes ({summary['format']} "
              f'source {args.source})')
        print(f'images per class: {counts}')
        if summary['untagged_classes']:
            print('warning: no image is tagged with '
                  f"{summary['untagged_classes']}")
        if summary['empty']:
            how = 'all-zero tags' if args.empty == 'zeros' else 'left out'
            print(f"{len(summary['empty'])} image(s) without tags, {how}: "
                  f"{summary['empty'][:5]}")
        if summary['not_in_images']:
            print(f"note: {len(summary['not_in_images'])} tagged image(s) "
                  f"are not among the required images, e.g. "
                  f"{summary['not_in_images'][:5]}")
        if summary['ids_out']:
            print(f"wrote {summary['ids_out']}: the tagged ids")
    return 0


if __name__ == '__main__':
    sys.exit(main())
