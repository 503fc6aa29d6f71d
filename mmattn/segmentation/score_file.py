# Copyright (c) mmattn contributors. All rights reserved.
"""The per-image mask score file: written by ``tools/score_masks.py``, read
by ``WeakVOCDataset``.

The file is JSON::

    {
      "format": "mmattn.mask_scores",
      "version": 1,
      "fields": ["AC", "CD", "SC", "P", "SF"],
      "meta": {...},                       # free-form: tool, scorer, date
      "scores": {
        "2007_000032": {"AC": 0.91, "CD": 0.88, "SC": 0.80,
                        "P": 0.87, "SF": 0.77},
        ...
      }
    }

``AC``, ``CD`` and ``SC`` (coarse scores, SAL paper Eq. 3-5) are required
for every image. ``P`` (the scoring network's prediction) and ``SF``
(``P * CD``, Eq. 7) are ``null`` when only coarse scoring was run. Every
number is a finite float in ``[0, 1]``.
"""
import json
import math
import os
import os.path as osp
from typing import Dict, Mapping, Optional

SCORE_FILE_FORMAT = 'mmattn.mask_scores'
SCORE_FILE_VERSION = 1
COARSE_FIELDS = ('AC', 'CD', 'SC')
FINE_FIELDS = ('P', 'SF')
SCORE_FIELDS = COARSE_FIELDS + FINE_FIELDS

MaskScores = Dict[str, Dict[str, Optional[float]]]


class MaskScoreFileError(ValueError):
    """A score file is missing, corrupt, partial or holds invalid values.

    The message always names the file.
    """


def _check_value(path: str, image_id: str, field: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MaskScoreFileError(
            f'{path}: image {image_id!r} field {field!r} must be a number, '
            f'got {value!r}')
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise MaskScoreFileError(
            f'{path}: image {image_id!r} field {field!r} = {value!r} is not '
            'a finite score in [0, 1]')


def validate_mask_scores(scores: Mapping[str, Mapping[str, Optional[float]]],
                         path: str = '<scores>') -> MaskScores:
    """Check a mapping ``image id -> {field: score}`` and return a clean
    copy with float values.

    Raises:
        MaskScoreFileError: naming ``path``, the image and the field.
    """
    if not isinstance(scores, Mapping):
        raise MaskScoreFileError(
            f'{path}: "scores" must map image ids to score dicts, got '
            f'{type(scores).__name__}')
    if len(scores) == 0:
        raise MaskScoreFileError(f'{path}: holds no image scores')
    clean: MaskScores = {}
    for image_id, entry in scores.items():
        if not isinstance(entry, Mapping):
            raise MaskScoreFileError(
                f'{path}: image {image_id!r} must map to a dict of scores, '
                f'got {entry!r}')
        unknown = set(entry) - set(SCORE_FIELDS)
        if unknown:
            raise MaskScoreFileError(
                f'{path}: image {image_id!r} has unknown fields '
                f'{sorted(unknown)}; expected {list(SCORE_FIELDS)}')
        row: Dict[str, Optional[float]] = {}
        for field in COARSE_FIELDS:
            if field not in entry or entry[field] is None:
                raise MaskScoreFileError(
                    f'{path}: image {image_id!r} lacks the required coarse '
                    f'score {field!r} (partial score file?)')
            _check_value(path, image_id, field, entry[field])
            row[field] = float(entry[field])
        for field in FINE_FIELDS:
            value = entry.get(field)
            if value is not None:
                _check_value(path, image_id, field, value)
                value = float(value)
            row[field] = value
        if (row['P'] is None) != (row['SF'] is None):
            raise MaskScoreFileError(
                f'{path}: image {image_id!r} has only one of P and SF; '
                'both are written together by the scoring network')
        clean[str(image_id)] = row
    return clean


def dump_mask_scores(scores: Mapping[str, Mapping[str, Optional[float]]],
                     path: str,
                     meta: Optional[dict] = None,
                     overwrite: bool = False) -> str:
    """Validate and write a score file.

    Args:
        scores: ``image id -> {'AC', 'CD', 'SC', 'P', 'SF'}``; ``P`` and
            ``SF`` may be ``None`` or left out.
        path: Destination ``.json`` file.
        meta: Free-form provenance stored under ``"meta"``.
        overwrite: Replace an existing file. Without it an existing file
            raises ``FileExistsError``.

    Returns:
        str: ``path``.
    """
    if osp.exists(path) and not overwrite:
        raise FileExistsError(
            f'{path} already exists; refusing to overwrite a score file '
            '(pass overwrite=True, or --overwrite to the tool)')
    clean = validate_mask_scores(scores, path)
    payload = dict(
        format=SCORE_FILE_FORMAT,
        version=SCORE_FILE_VERSION,
        fields=list(SCORE_FIELDS),
        meta=dict(meta or {}),
        scores=clean)
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # Write then rename, so an interrupted run never leaves a partial file
    # where a previous complete one stood.
    tmp_path = f'{path}.tmp-{os.getpid()}'
    with open(tmp_path, 'w') as f:
        json.dump(payload, f, indent=1, sort_keys=True)
    os.replace(tmp_path, path)
    return path


def load_mask_scores(path: str) -> MaskScores:
    """Read and validate a score file written by :func:`dump_mask_scores`.

    Returns:
        dict: ``image id -> {'AC', 'CD', 'SC', 'P', 'SF'}`` with float
        values (``P`` and ``SF`` may be ``None``).

    Raises:
        FileNotFoundError: the file does not exist.
        MaskScoreFileError: the file is corrupt, partial, of another format
            or holds invalid values; the message names the file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'mask score file not found: {path}')
    try:
        with open(path) as f:
            payload = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MaskScoreFileError(
            f'{path}: corrupt score file (not valid JSON: {e})') from e
    if not isinstance(payload, dict) or payload.get(
            'format') != SCORE_FILE_FORMAT:
        raise MaskScoreFileError(
            f'{path}: not an mmattn mask score file (expected '
            f'"format": "{SCORE_FILE_FORMAT}")')
    if payload.get('version') != SCORE_FILE_VERSION:
        raise MaskScoreFileError(
            f'{path}: unsupported score file version '
            f'{payload.get("version")!r} (this mmattn reads version '
            f'{SCORE_FILE_VERSION})')
    if 'scores' not in payload:
        raise MaskScoreFileError(f'{path}: has no "scores" section')
    return validate_mask_scores(payload['scores'], path)
