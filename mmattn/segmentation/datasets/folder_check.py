# Copyright (c) mmattn contributors. All rights reserved.
"""Check a whole weakly supervised segmentation folder (VOC layout) before
training: what ``tools/check_dataset.py`` runs."""
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from mmattn.segmentation.mask_scoring.mask_io import (read_id_list,
                                                       read_image)
from mmattn.segmentation.score_file import (SCORE_FIELDS, MaskScoreFileError,
                                            load_mask_score_file,
                                            stale_proxy_masks)
from mmattn.segmentation.tag_file import read_tags
from .sample_check import label_mask_problems


@dataclass
class FolderReport:
    """What :func:`check_weak_seg_folder` found.

    Attributes:
        num_images (int): Images listed by the split file.
        problems (list[str]): ``<file>: <problem>`` lines; any of them makes
            training fail or learn from wrong data.
        warnings (list[str]): Worth a look, but training works.
    """
    num_images: int = 0
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_mask_as_loaded(path: str) -> np.ndarray:
    """A label mask as mmseg's ``LoadAnnotations`` decodes it (Pillow,
    unchanged, singleton axes squeezed), before its cast to uint8, so that
    labels above 255 of a 16-bit PNG still show."""
    with Image.open(path) as im:
        return np.array(im).squeeze()


def check_weak_seg_folder(data_root: str,
                          ann_file: str = 'ImageSets/Segmentation/train.txt',
                          img_dir: str = 'JPEGImages',
                          mask_dir: str = 'SegmentationClassProxy',
                          img_suffix: str = '.jpg',
                          mask_suffix: str = '.png',
                          tag_file: Optional[str] = 'cls_labels.npy',
                          score_file: Optional[str] = None,
                          required_scores: Sequence[str] = ('SF', ),
                          num_classes: int = 21,
                          ignore_index: int = 255) -> FolderReport:
    """Check every image of a split as ``WeakVOCDataset`` would load it.

    Per image: the image and its mask exist and decode; the mask is a
    single-channel label map of the image's size with labels in
    ``0 .. num_classes - 1`` or ``ignore_index``; the tag file lists the
    image with ``num_classes - 1`` 0/1 tags. With a score file: it loads,
    scores every image with non-null ``required_scores``, and the masks are
    the ones it scored (fingerprints).

    Args:
        data_root (str): The dataset folder; the relative paths below are
            joined with it.
        ann_file (str): Split file, one image id per line.
        img_dir (str): Image folder.
        mask_dir (str): Label mask folder (proxy masks).
        img_suffix (str): Image file suffix. Default: '.jpg'.
        mask_suffix (str): Mask file suffix. Default: '.png'.
        tag_file (str, optional): ``cls_labels.npy``; None skips the tags.
        score_file (str, optional): A mask score file; None skips it.
        required_scores (Sequence[str]): Score fields that must be non-null,
            as the dataset's ``required_scores``. Default: ('SF', ).
        num_classes (int): Classes including the background. Default: 21.
        ignore_index (int): The label that is ignored. Default: 255.

    Returns:
        FolderReport: The problems and warnings found.
    """
    unknown = [k for k in required_scores if k not in SCORE_FIELDS]
    if unknown:
        raise ValueError(f'required_scores must be among {SCORE_FIELDS}, '
                         f'got {list(required_scores)!r}')
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f'num_classes must be an int >= 2, got '
                         f'{num_classes!r}')
    report = FolderReport()

    def path_of(rel: Optional[str]) -> Optional[str]:
        return None if rel is None else osp.join(data_root, rel)

    if not osp.isdir(data_root):
        report.problems.append(f'{data_root}: folder not found')
        return report
    try:
        ids = read_id_list(path_of(ann_file))
    except (FileNotFoundError, ValueError) as err:
        report.problems.append(str(err))
        return report
    report.num_images = len(ids)
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        report.warnings.append(f'{path_of(ann_file)}: lists {repeated[:5]} '
                               'more than once')

    tags: Optional[Dict[str, np.ndarray]] = None
    if tag_file is not None:
        try:
            tags = read_tags(path_of(tag_file))
        except (FileNotFoundError, ValueError) as err:
            report.problems.append(str(err))

    mask_paths = {}
    tag_notes: Dict[str, List[str]] = {}
    for img_id in ids:
        img_path = osp.join(data_root, img_dir, img_id + img_suffix)
        mask_path = osp.join(data_root, mask_dir, img_id + mask_suffix)
        mask_paths[img_id] = mask_path
        img_shape = None
        try:
            img_shape = read_image(img_path).shape
        except (FileNotFoundError, ValueError) as err:
            report.problems.append(str(err))
        if not osp.isfile(mask_path):
            report.problems.append(f'{mask_path}: label mask not found '
                                   f'(image {img_id!r})')
            mask = None
        else:
            try:
                mask = read_mask_as_loaded(mask_path)
            except (OSError, SyntaxError) as err:
                report.problems.append(
                    f'{mask_path}: cannot decode the label mask ({err})')
                mask = None
        if mask is not None:
            for problem in label_mask_problems(mask, img_shape, num_classes,
                                               ignore_index):
                report.problems.append(f'{mask_path}: label mask {problem}')
        if tags is not None:
            _check_tags(report, tag_notes, path_of(tag_file), img_id, tags,
                        mask, num_classes, ignore_index)
    for note, noted_ids in tag_notes.items():
        report.warnings.append(f'{path_of(tag_file)}: {len(noted_ids)} '
                               f'image(s) {note}, e.g. {noted_ids[:5]}')

    if score_file is not None:
        _check_scores(report, path_of(score_file), mask_paths,
                      tuple(required_scores))
    return report


def _check_tags(report: FolderReport, notes: Dict[str, List[str]],
                tag_path: str, img_id: str, tags: Dict[str, np.ndarray],
                mask: Optional[np.ndarray], num_classes: int,
                ignore_index: int) -> None:
    """Problems go to the report; warnings are collected in ``notes``
    (warning -> image ids), one line each in the end."""
    if img_id not in tags:
        report.problems.append(f'{tag_path}: image {img_id!r} has no tags')
        return
    vector = np.asarray(tags[img_id]).reshape(-1)
    if vector.shape != (num_classes - 1, ):
        report.problems.append(
            f'{tag_path}: image {img_id!r} has {vector.size} tags, expected '
            f'{num_classes - 1} (one per foreground class, no background)')
        return
    if not np.isin(vector, (0, 1)).all():
        report.problems.append(
            f'{tag_path}: image {img_id!r} has tags other than 0 and 1: '
            f'{sorted(set(vector.tolist()) - {0.0, 1.0})[:5]}')
        return
    if vector.sum() == 0:
        notes.setdefault('have no foreground tag', []).append(img_id)
    if mask is not None and mask.ndim == 2:
        labels = np.unique(mask)
        in_mask = {
            int(v)
            for v in labels if 1 <= v < num_classes and v != ignore_index
        }
        untagged = sorted(in_mask - {int(k) + 1
                                     for k in np.flatnonzero(vector)})
        if untagged:
            notes.setdefault(
                'have a mask with classes their tags do not list (noisy '
                'proxies, or wrong tags)', []).append(img_id)


def _check_scores(report: FolderReport, score_path: str,
                  mask_paths: Dict[str, str],
                  required_scores: Sequence[str]) -> None:
    try:
        scores = load_mask_score_file(score_path)
    except (FileNotFoundError, MaskScoreFileError) as err:
        report.problems.append(str(err))
        return
    unscored = [i for i in mask_paths if i not in scores.scores]
    if unscored:
        report.problems.append(
            f'{score_path}: {len(unscored)} image(s) have no scores, e.g. '
            f'{unscored[:5]}')
    for key in required_scores:
        missing = [
            i for i in mask_paths
            if i in scores.scores and scores.scores[i][key] is None
        ]
        if missing:
            hint = (' (a coarse-only file: select on SC with '
                    "required_scores=('SC',) and score_key='SC', or run "
                    'the scoring network)' if key in ('P', 'SF') else '')
            report.problems.append(
                f'{score_path}: {len(missing)} image(s) have no {key!r} '
                f'score, e.g. {missing[:5]}{hint}')
    if scores.fingerprints is None:
        report.warnings.append(
            f'{score_path}: records no fingerprints of the masks it scored '
            '(older mmattn, or written without a proxy folder): cannot tell '
            'whether it still matches the masks; re-score to record them')
        return
    stale = stale_proxy_masks(scores, mask_paths)
    if stale:
        report.problems.append(
            f'{score_path}: stale scores: {len(stale)} of '
            f'{sum(i in scores.scores for i in mask_paths)} masks differ '
            f'from the ones that were scored (e.g. {stale[:3]}); the folder '
            'was regenerated or edited after scoring. Re-score with '
            'tools/score_masks.py ... --overwrite')
