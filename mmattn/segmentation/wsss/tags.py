# Copyright (c) mmattn contributors. All rights reserved.
"""Image tags for the user's own data: a CSV or JSON of image id to class
names, a folder of per-image tag files or a COCO instances json, turned into
``cls_labels.npy`` (the IRN/SEAM/PSA convention that ``WeakVOCDataset``,
``tools/score_masks.py`` and ``tools/sal_pipeline.py`` read).

``cls_labels.npy`` is an ``np.save`` of a dict from image id (the image's
file name without folder and suffix) to a float32 vector with one 0/1 entry
per **foreground** class, entry ``k - 1`` for class ``k`` (VOC: 20 entries,
``[0]`` is aeroplane). :func:`make_cls_labels` reads a source, checks every
entry and writes the file; every problem of the source is reported at once
in one :class:`TagSourceError`, each line naming the item (file and line,
image, class name), and nothing is written then.
"""
import csv
import difflib
import json
import os
import os.path as osp
import tempfile
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    'VOC_CLASSES', 'TAG_FORMATS', 'TagEntry', 'TagSourceError',
    'detect_tag_format', 'image_id_from_name', 'make_cls_labels',
    'read_class_list', 'read_coco_tags', 'read_csv_tags', 'read_folder_tags',
    'read_json_tags', 'split_tag_text', 'tags_to_vectors', 'write_cls_labels',
    'write_id_list'
]

#: PASCAL VOC's 20 foreground classes in label order (label ``k`` is
#: ``VOC_CLASSES[k - 1]``), as mmseg's ``PascalVOCDataset`` names them.
VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse',
               'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')
#: The formats :func:`make_cls_labels` reads.
TAG_FORMATS = ('csv', 'json', 'folder', 'coco')
#: A first line of a class-list file that names the background (no tag
#: entry): mmseg's, labelme's and detectron's spellings.
BACKGROUND_NAMES = ('background', '_background_', '__background__')
#: Suffixes stripped from an image name to get its id.
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: A first CSV row whose first cell is one of these is a header.
CSV_HEADER_NAMES = ('image_id', 'image', 'id', 'img', 'img_id', 'filename',
                    'file_name', 'file', 'image_name', 'name', 'path')
#: Keys of a JSON record (list form) that hold the image id and the tags.
JSON_ID_KEYS = ('image_id', 'image', 'id', 'file_name', 'filename')
JSON_TAG_KEYS = ('tags', 'labels', 'classes')
#: At most this many problems are listed in one error.
MAX_LISTED_PROBLEMS = 30


class TagSourceError(ValueError):
    """Problems found in a tag source; ``problems`` lists them, one line
    each (``<file>:<line>: <problem>``), and the message shows them."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        shown = self.problems[:MAX_LISTED_PROBLEMS]
        more = len(self.problems) - len(shown)
        lines = [
            f'{source}: {len(self.problems)} problem(s), nothing '
            'written:'
        ] + [f'  {p}' for p in shown]
        if more:
            lines.append(f'  ... and {more} more')
        super().__init__('\n'.join(lines))


@dataclass
class TagEntry:
    """The tags of one image as a source gives them.

    Args:
        image_id (str): The image id (file name without folder and suffix).
        names (list[str]): Class names, in the source's order.
        where (str): Where the entry is, for messages
            (``tags.csv:7``, ``tags/2007_000032.txt``).
    """
    image_id: str
    names: List[str] = field(default_factory=list)
    where: str = ''


def image_id_from_name(name: str) -> str:
    """The image id of a file name or path: the base name without one
    image suffix (``train/2007_000032.jpg`` -> ``2007_000032``); a name
    without an image suffix is kept (``2007_000032`` stays)."""
    base = osp.basename(str(name).strip().replace('\\', '/'))
    stem, ext = osp.splitext(base)
    return stem if ext.lower() in IMAGE_SUFFIXES else base


def split_tag_text(text: str, classes: Sequence[str] = ()) -> List[str]:
    """The class names in a piece of text (a CSV cell, a line of a tag
    file, a JSON string).

    Names are separated by newlines, commas, semicolons or ``|``. A part
    that is not itself one of ``classes`` is split further at whitespace,
    so ``'aeroplane person'`` gives two names while ``'traffic light'``
    stays one name when the class list has it (write several names with
    spaces as ``'traffic light; stop sign'``).

    Args:
        text (str): The text.
        classes (Sequence[str]): The class list, to keep names with spaces
            whole.

    Returns:
        list[str]: The names, stripped, empty parts dropped.
    """
    known = set(classes)
    names = []
    for line in str(text).replace('|', ',').replace(';', ',').split('\n'):
        for part in line.split(','):
            part = part.strip()
            if not part:
                continue
            if part in known:
                names.append(part)
            else:
                names.extend(part.split())
    return names


def read_class_list(path: str) -> Tuple[str, ...]:
    """The foreground classes of a class-list file, in label order.

    One class name per line; blank lines and lines starting with ``#`` are
    skipped. A first name ``background`` (or ``_background_``,
    ``__background__``) is the background: it gets no tag entry and the
    next name is label 1. Without it the first name is label 1.

    Raises:
        FileNotFoundError: The file does not exist.
        TagSourceError: A repeated name or no foreground class, naming the
            line.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'class list not found: {path}')
    names, problems, seen = [], [], {}
    with open(path, encoding='utf-8-sig') as f:
        for line_no, line in enumerate(f, 1):
            name = line.strip()
            if not name or name.startswith('#'):
                continue
            if not names and not seen and name in BACKGROUND_NAMES:
                seen[name] = line_no
                continue
            if name in seen:
                problems.append(f'{path}:{line_no}: class {name!r} repeats '
                                f'line {seen[name]}')
                continue
            seen[name] = line_no
            names.append(name)
    if not names and not problems:
        problems.append(f'{path}: lists no foreground class')
    if problems:
        raise TagSourceError(path, problems)
    return tuple(names)


def detect_tag_format(source: str) -> str:
    """``'folder'`` for a folder, ``'csv'`` for ``.csv``/``.tsv``/``.txt``,
    ``'coco'`` for a JSON object with ``images``, ``annotations`` and
    ``categories``, else ``'json'``.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: A file of another suffix, naming it.
    """
    if osp.isdir(source):
        return 'folder'
    if not osp.isfile(source):
        raise FileNotFoundError(f'tag source not found: {source}')
    ext = osp.splitext(source)[1].lower()
    if ext in ('.csv', '.tsv', '.txt'):
        return 'csv'
    if ext == '.json':
        data = _load_json(source)
        if isinstance(data, dict) and {'images', 'annotations', 'categories'
                                       } <= set(data):
            return 'coco'
        return 'json'
    raise ValueError(f'{source}: cannot tell the tag format from the suffix '
                     f'{ext!r}; give one of {TAG_FORMATS} (--format)')


def _load_json(path: str, object_pairs_hook=None):
    try:
        with open(path, encoding='utf-8-sig') as f:
            return json.load(f, object_pairs_hook=object_pairs_hook)
    except json.JSONDecodeError as err:
        raise TagSourceError(path, [
            f'{path}:{err.lineno}: not valid JSON ({err.msg}, '
            f'column {err.colno})'
        ]) from err
    except UnicodeDecodeError as err:
        raise TagSourceError(path,
                             [f'{path}: not UTF-8 text ({err})']) from err


def read_csv_tags(path: str, classes: Sequence[str] = ()) -> List[TagEntry]:
    """Tags from a CSV (``.tsv``: tab-separated) file.

    One row per image: the image id (or file name; folder and image suffix
    are dropped) in the first cell, class names in the other cells, one per
    cell or several in one cell (see :func:`split_tag_text`)::

        image_id,tags
        2007_000032,aeroplane person
        2007_000039,tvmonitor

    A first row whose first cell is a header name (``image_id``, ``image``,
    ``id``, ``filename``, ...) is skipped, as are blank rows and rows whose
    first cell starts with ``#``. An image without names in its row gets an
    entry without names (an error unless :func:`tags_to_vectors` is told
    otherwise).

    Returns:
        list[TagEntry]: One per row, ``where`` is ``path:line``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'tag file not found: {path}')
    delimiter = '\t' if path.lower().endswith('.tsv') else ','
    entries, problems, first = [], [], True
    try:
        with open(path, newline='', encoding='utf-8-sig') as f:
            reader = csv.reader(f, delimiter=delimiter)
            for row in reader:
                where = f'{path}:{reader.line_num}'
                cells = [c.strip() for c in row]
                if not any(cells) or cells[0].startswith('#'):
                    continue
                if first and cells[0].lower() in CSV_HEADER_NAMES:
                    first = False
                    continue
                first = False
                if not cells[0]:
                    problems.append(f'{where}: no image id in the first '
                                    f'cell (row {row!r})')
                    continue
                names = []
                for cell in cells[1:]:
                    names.extend(split_tag_text(cell, classes))
                entries.append(
                    TagEntry(image_id_from_name(cells[0]), names, where))
    except UnicodeDecodeError as err:
        raise TagSourceError(path,
                             [f'{path}: not UTF-8 text ({err})']) from err
    except csv.Error as err:
        raise TagSourceError(path, [f'{path}: not a CSV file ({err})'])
    if problems:
        raise TagSourceError(path, problems)
    return entries


def read_json_tags(path: str, classes: Sequence[str] = ()) -> List[TagEntry]:
    """Tags from a JSON file, in one of two forms::

        {"2007_000032": ["aeroplane", "person"], "2007_000039": "tvmonitor"}
        [{"image_id": "2007_000032", "tags": ["aeroplane", "person"]}, ...]

    Keys (and ``image_id``) may be file names; folder and image suffix are
    dropped. Tags are a list of names or a string (split as
    :func:`split_tag_text`). In a record the id is under ``image_id``,
    ``image``, ``id``, ``file_name`` or ``filename``, the tags under
    ``tags``, ``labels`` or ``classes``. A key repeated in the object form
    is reported (``json.load`` would silently keep the last).

    Returns:
        list[TagEntry]: One per key or record, ``where`` names the file and
        the key or the record's index.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'tag file not found: {path}')
    data = _load_json(path, object_pairs_hook=lambda pairs: pairs)
    problems, entries = [], []

    def names_of(value, where):
        if isinstance(value, str):
            return split_tag_text(value, classes)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            names = []
            for v in value:
                names.extend([v.strip()] if v.strip() in
                             classes else split_tag_text(v, classes))
            return names
        problems.append(f'{where}: tags must be a list of class names or a '
                        f'string, got {value!r}')
        return None

    if isinstance(data, list) and all(isinstance(p, tuple) for p in data):
        # The object form (object_pairs_hook keeps every pair).
        for key, value in data:
            where = f'{path}: key {key!r}'
            names = names_of(_plain(value), where)
            if names is not None:
                entries.append(TagEntry(image_id_from_name(key), names, where))
    elif isinstance(data, list):
        for index, record in enumerate(data):
            record = _plain(record)
            where = f'{path}: record {index}'
            if not isinstance(record, dict):
                problems.append(f'{where}: expected an object with the image '
                                f'id and its tags, got {record!r}')
                continue
            id_key = next((k for k in JSON_ID_KEYS if k in record), None)
            tag_key = next((k for k in JSON_TAG_KEYS if k in record), None)
            if id_key is None or tag_key is None:
                problems.append(
                    f'{where}: needs an image id (one of {JSON_ID_KEYS}) and '
                    f'tags (one of {JSON_TAG_KEYS}), has keys '
                    f'{sorted(record)}')
                continue
            where = f'{where} ({record[id_key]!r})'
            names = names_of(record[tag_key], where)
            if names is not None:
                entries.append(
                    TagEntry(image_id_from_name(record[id_key]), names, where))
    else:
        problems.append(f'{path}: expected an object (image id -> tags) or a '
                        f'list of records, got {type(data).__name__}')
    if problems:
        raise TagSourceError(path, problems)
    return entries


def _plain(value):
    """Undo ``object_pairs_hook=lambda pairs: pairs`` below the top
    level."""
    if isinstance(value, list) and value and all(
            isinstance(p, tuple) and len(p) == 2 for p in value):
        return {k: _plain(v) for k, v in value}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def read_folder_tags(folder: str,
                     classes: Sequence[str] = (),
                     suffix: str = '.txt') -> List[TagEntry]:
    """Tags from a folder of per-image files ``<image id><suffix>``
    (``2007_000032.txt``; ``2007_000032.jpg.txt`` works too), each holding
    the image's class names, one per line or separated as in
    :func:`split_tag_text`; blank lines and lines starting with ``#`` are
    skipped. Other files in the folder are ignored; sub-folders are not
    read.

    Returns:
        list[TagEntry]: One per file, ``where`` is the file.

    Raises:
        TagSourceError: The folder holds no ``*<suffix>`` file.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'tag folder not found: {folder}')
    files = sorted(
        name for name in os.listdir(folder)
        if name.endswith(suffix) and osp.isfile(osp.join(folder, name)))
    if not files:
        raise TagSourceError(folder, [
            f'{folder}: holds no tag file (*{suffix}; change the suffix with '
            '--tag-suffix)'
        ])
    entries, problems = [], []
    for name in files:
        path = osp.join(folder, name)
        try:
            with open(path, encoding='utf-8-sig') as f:
                lines = f.read().split('\n')
        except UnicodeDecodeError as err:
            problems.append(f'{path}: not UTF-8 text ({err})')
            continue
        names = []
        for line in lines:
            if line.strip().startswith('#'):
                continue
            names.extend(split_tag_text(line, classes))
        entries.append(
            TagEntry(image_id_from_name(name[:-len(suffix)]), names, path))
    if problems:
        raise TagSourceError(folder, problems)
    return entries


def read_coco_tags(path: str) -> Tuple[List[TagEntry], Tuple[str, ...]]:
    """Tags from a COCO instances json: each image is tagged with the
    categories of its annotations (crowd annotations included).

    The image id is the image's ``file_name`` without folder and suffix. An
    image without annotations gets an entry without names.

    Returns:
        tuple: The entries (``where`` names the file, the image's
        ``file_name`` and COCO id) and the category names in category-id
        order (for ``--coco-classes``).

    Raises:
        TagSourceError: Not a COCO instances file; an image without
            ``file_name``; an image id listed twice; an annotation of an
            unknown image or category, each naming the entry.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'COCO annotation file not found: {path}')
    data = _load_json(path)
    if not isinstance(data, dict) or not {
            'images', 'annotations', 'categories'
    } <= set(data):
        raise TagSourceError(path, [
            f'{path}: not a COCO instances file (needs "images", '
            '"annotations" and "categories")'
        ])
    problems = []
    categories = {}
    for index, cat in enumerate(data['categories']):
        if not isinstance(cat, dict) or 'id' not in cat or 'name' not in cat:
            problems.append(f'{path}: categories[{index}] needs "id" and '
                            f'"name", got {cat!r}')
        elif cat['id'] in categories:
            problems.append(f'{path}: categories[{index}]: category id '
                            f'{cat["id"]} is listed twice')
        else:
            categories[cat['id']] = str(cat['name'])
    images = {}
    for index, img in enumerate(data['images']):
        if not isinstance(img, dict) or 'id' not in img or \
                'file_name' not in img:
            problems.append(f'{path}: images[{index}] needs "id" and '
                            f'"file_name", got {img!r}')
            continue
        if img['id'] in images:
            problems.append(
                f'{path}: images[{index}] ({img["file_name"]}): image id '
                f'{img["id"]} is listed twice (also '
                f'{images[img["id"]][0]})')
            continue
        images[img['id']] = (str(img['file_name']), [])
    for index, ann in enumerate(data['annotations']):
        if not isinstance(ann, dict):
            problems.append(f'{path}: annotations[{index}] is not an object')
            continue
        ann_name = f'annotations[{index}] (id {ann.get("id")})'
        if ann.get('image_id') not in images:
            problems.append(f'{path}: {ann_name}: unknown image id '
                            f'{ann.get("image_id")!r}')
            continue
        if ann.get('category_id') not in categories:
            problems.append(f'{path}: {ann_name}: unknown category id '
                            f'{ann.get("category_id")!r}')
            continue
        names = images[ann['image_id']][1]
        name = categories[ann['category_id']]
        if name not in names:
            names.append(name)
    if problems:
        raise TagSourceError(path, problems)
    entries = [
        TagEntry(
            image_id_from_name(file_name), names,
            f'{path}: image {file_name} (id {img_id})')
        for img_id, (file_name, names) in images.items()
    ]
    ordered = tuple(categories[k] for k in sorted(categories))
    return entries, ordered


def _suggestion(name: str, classes: Sequence[str]) -> str:
    lower = {c.lower(): c for c in classes}
    if name.lower() in lower:
        return f" (did you mean {lower[name.lower()]!r}? names are " \
               'case-sensitive)'
    close = difflib.get_close_matches(name, list(classes), n=1, cutoff=0.6)
    return f' (did you mean {close[0]!r}?)' if close else ''


def tags_to_vectors(
        entries: Sequence[TagEntry],
        classes: Sequence[str],
        empty: str = 'error',
        image_ids: Optional[Sequence[str]] = None,
        classes_source: str = 'the class list',
        source: str = 'tags') -> Tuple[Dict[str, np.ndarray], dict]:
    """Check tag entries against the class list and turn them into
    ``cls_labels.npy`` vectors.

    Args:
        entries (Sequence[TagEntry]): What a reader returned.
        classes (Sequence[str]): The foreground classes in label order;
            name ``classes[k]`` sets entry ``k``.
        empty (str): An entry without names: ``'error'`` (a problem),
            ``'zeros'`` (an all-zero vector: an image of background only)
            or ``'skip'`` (left out of the output). Default: 'error'.
        image_ids (Sequence[str], optional): The images that must have
            tags (a split or an image folder): each one without an entry is
            a problem. Default: None (no such check).
        classes_source (str): How messages name the class list.
        source (str): How the error names the tag source.

    Returns:
        tuple: ``tags`` (dict image id -> float32 ``(len(classes),)``, in
        the order of ``entries``) and a summary dict (``num_images``,
        ``class_counts``, ``untagged_classes``, ``empty`` ids written as
        zeros or skipped, ``not_in_images``: tagged ids absent from
        ``image_ids``).

    Raises:
        TagSourceError: Unknown class names (with a suggestion when a
            class is spelled alike), repeated image ids (naming both
            places), images without tags, each naming the image and where
            its entry is.
    """
    if empty not in ('error', 'zeros', 'skip'):
        raise ValueError("empty must be one of ('error', 'zeros', 'skip'), "
                         f'got {empty!r}')
    index = {name: k for k, name in enumerate(classes)}
    problems, seen, tags, empties = [], {}, {}, []
    for entry in entries:
        if entry.image_id in seen:
            problems.append(f'{entry.where}: image {entry.image_id!r} is '
                            f'tagged twice (first at {seen[entry.image_id]})')
            continue
        seen[entry.image_id] = entry.where
        vector = np.zeros(len(classes), dtype=np.float32)
        unknown = [n for n in entry.names if n not in index]
        for name in dict.fromkeys(unknown):
            problems.append(
                f'{entry.where}: image {entry.image_id!r}: unknown class '
                f'{name!r}{_suggestion(name, classes)}; not in '
                f'{classes_source}')
        if unknown:
            continue
        if not entry.names:
            if empty == 'error':
                problems.append(
                    f'{entry.where}: image {entry.image_id!r} has no tags '
                    "(write its classes, or use --empty zeros/skip for "
                    'images of background only)')
                continue
            empties.append(entry.image_id)
            if empty == 'skip':
                continue
        for name in entry.names:
            vector[index[name]] = 1.0
        tags[entry.image_id] = vector
    not_in_images = []
    if image_ids is not None:
        wanted = list(dict.fromkeys(str(i) for i in image_ids))
        skipped = set(empties) if empty == 'skip' else set()
        for image_id in wanted:
            if image_id not in seen:
                problems.append(f'image {image_id!r} has no tags in {source}')
            elif image_id in skipped:
                problems.append(
                    f'{seen[image_id]}: image {image_id!r} has no tags and '
                    '--empty skip leaves it out, but it is one of the images '
                    'that must have tags')
        wanted_set = set(wanted)
        not_in_images = [i for i in tags if i not in wanted_set]
    if problems:
        raise TagSourceError(source, problems)
    counts = {name: 0 for name in classes}
    for vector in tags.values():
        for k in np.flatnonzero(vector):
            counts[classes[k]] += 1
    summary = dict(
        num_images=len(tags),
        num_classes=len(classes),
        class_counts=counts,
        untagged_classes=[name for name, n in counts.items() if n == 0],
        empty=empties,
        not_in_images=not_in_images)
    return tags, summary


def _check_new_file(path: str, overwrite: bool, what: str) -> None:
    if osp.isdir(path):
        raise IsADirectoryError(f'{what} {path} is a folder')
    if osp.lexists(path) and not overwrite:
        raise FileExistsError(f'{what} {path} exists; pass --overwrite '
                              '(overwrite=True) to replace it')


def _write_atomically(path: str, write) -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.' + osp.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_cls_labels(path: str,
                     tags: Dict[str, np.ndarray],
                     overwrite: bool = False) -> None:
    """``np.save`` the dict ``tags`` to ``path`` (a ``.npy`` file), all at
    once (a temporary file renamed into place).

    Raises:
        ValueError: ``path`` does not end with ``.npy`` (``np.save`` would
            add it, writing another file than the one named).
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    if not str(path).endswith('.npy'):
        raise ValueError(f'the tag file must end with .npy, got {path}')
    _check_new_file(path, overwrite, 'tag file')
    _write_atomically(path,
                      lambda f: np.save(f, dict(tags), allow_pickle=True))


def write_id_list(path: str,
                  image_ids: Sequence[str],
                  overwrite: bool = False) -> None:
    """One image id per line (VOC ``ImageSets`` style), never replacing an
    existing file unless ``overwrite``."""
    _check_new_file(path, overwrite, 'id list')
    text = ''.join(f'{i}\n' for i in image_ids).encode()
    _write_atomically(path, lambda f: f.write(text))


def _image_ids_of_folder(folder: str) -> List[str]:
    if not osp.isdir(folder):
        raise FileNotFoundError(f'image folder not found: {folder}')
    ids = sorted(
        osp.splitext(name)[0] for name in os.listdir(folder)
        if osp.splitext(name)[1].lower() in IMAGE_SUFFIXES)
    if not ids:
        raise ValueError(f'{folder}: holds no image ({IMAGE_SUFFIXES})')
    return ids


def make_cls_labels(source: str,
                    out: str,
                    fmt: Optional[str] = None,
                    classes: Optional[Sequence[str]] = None,
                    class_file: Optional[str] = None,
                    coco_classes: bool = False,
                    empty: str = 'error',
                    img_dir: Optional[str] = None,
                    split: Optional[str] = None,
                    tag_suffix: str = '.txt',
                    ids_out: Optional[str] = None,
                    overwrite: bool = False) -> dict:
    """Read a tag source, check it and write ``cls_labels.npy``.

    Args:
        source (str): A CSV/TSV file, a JSON file, a folder of tag files or
            a COCO instances json.
        out (str): The ``.npy`` file to write.
        fmt (str, optional): One of :data:`TAG_FORMATS`; None: from the
            source (:func:`detect_tag_format`).
        classes (Sequence[str], optional): Foreground classes in label
            order. Default: None (``class_file``, else VOC's 20).
        class_file (str, optional): A class-list file
            (:func:`read_class_list`).
        coco_classes (bool): With a COCO source, use its categories in
            category-id order as the class list. Default: False.
        empty (str): Images without tags: ``'error'``, ``'zeros'`` or
            ``'skip'`` (:func:`tags_to_vectors`). Default: 'error'.
        img_dir (str, optional): An image folder: every image in it must
            have tags.
        split (str, optional): An id list (one per line): every id in it
            must have tags.
        tag_suffix (str): Suffix of the files of a folder source.
            Default: '.txt'.
        ids_out (str, optional): Also write the tagged ids, one per line
            (e.g. ``ImageSets/Segmentation/train.txt``).
        overwrite (bool): Replace existing output files. Default: False.

    Returns:
        dict: The summary of :func:`tags_to_vectors` plus ``out``,
        ``format``, ``classes`` and ``ids_out``.

    Raises:
        FileExistsError: An output exists and ``overwrite`` is False
            (checked before reading anything).
        TagSourceError: Every problem of the source at once.
    """
    for path, what in ((out, 'tag file'), (ids_out, 'id list')):
        if path is not None:
            _check_new_file(path, overwrite, what)
    if not str(out).endswith('.npy'):
        raise ValueError(f'the tag file must end with .npy, got {out}')
    fmt = detect_tag_format(source) if fmt is None else fmt
    if fmt not in TAG_FORMATS:
        raise ValueError(f'format must be one of {TAG_FORMATS}, got {fmt!r}')
    if coco_classes and fmt != 'coco':
        raise ValueError('coco_classes (--coco-classes) needs a COCO source, '
                         f'got the {fmt} source {source}')
    if sum(
            x is not None and x is not False
            for x in (classes, class_file, coco_classes or None)) > 1:
        raise ValueError('give at most one of classes, class_file (--classes) '
                         'and coco_classes (--coco-classes)')
    if class_file is not None:
        classes = read_class_list(class_file)
        classes_source = f'{class_file} ({len(classes)} classes)'
    elif classes is not None:
        classes = tuple(classes)
        classes_source = f'the given {len(classes)} classes'
    else:
        classes = VOC_CLASSES
        classes_source = "VOC's 20 classes (give yours with --classes FILE)"

    if fmt == 'coco':
        entries, coco_names = read_coco_tags(source)
        if coco_classes:
            classes = coco_names
            classes_source = f'the categories of {source}'
    elif fmt == 'csv':
        entries = read_csv_tags(source, classes)
    elif fmt == 'json':
        entries = read_json_tags(source, classes)
    else:
        entries = read_folder_tags(source, classes, suffix=tag_suffix)

    image_ids = None
    if split is not None:
        from mmattn.segmentation.mask_scoring.mask_io import read_id_list
        image_ids = list(read_id_list(split))
    if img_dir is not None:
        image_ids = (image_ids or []) + _image_ids_of_folder(img_dir)
    required_in = ' / '.join(p for p in (split, img_dir) if p)
    tags, summary = tags_to_vectors(
        entries,
        classes,
        empty=empty,
        image_ids=image_ids,
        classes_source=classes_source,
        source=source + (f' (images of {required_in})' if required_in else ''))
    if not tags:
        raise TagSourceError(source, [f'{source}: tags no image'])
    write_cls_labels(out, tags, overwrite=overwrite)
    if ids_out is not None:
        write_id_list(ids_out, list(tags), overwrite=overwrite)
    summary.update(out=out, format=fmt, classes=list(classes), ids_out=ids_out)
    return summary
