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

What was scored is recorded too, so that a dataset can tell when the proxy
masks changed after scoring (e.g. ``tools/make_data.py --overwrite`` with
another seed, or a hand-edited mask)::

      "proxies": {
        "hash": "sha1",                    # of each mask file's bytes
        "dir": "data/.../SegmentationClassProxy",  # as given to the writer
        "suffix": ".png",
        "fingerprints": {"2007_000032": "5d41402a...", ...}
      }

:func:`dump_mask_scores` writes it when it knows the proxy folder
(``proxy_dir=``, or ``meta['proxy_dir']`` as ``tools/score_masks.py``
records it together with its settings). Files without the section (written
before it existed, or without a proxy folder) still load; the dataset then
warns once that it cannot check them.
"""
import hashlib
import json
import math
import os
import os.path as osp
import re
from typing import Callable, Dict, List, Mapping, NamedTuple, Optional

SCORE_FILE_FORMAT = 'mmattn.mask_scores'
SCORE_FILE_VERSION = 1
COARSE_FIELDS = ('AC', 'CD', 'SC')
FINE_FIELDS = ('P', 'SF')
SCORE_FIELDS = COARSE_FIELDS + FINE_FIELDS

PROXY_HASH = 'sha1'

MaskScores = Dict[str, Dict[str, Optional[float]]]


class MaskScoreFileError(ValueError):
    """A score file is missing, corrupt, partial or holds invalid values.

    The message always names the file.
    """


class StaleMaskScoresError(MaskScoreFileError):
    """The proxy masks changed after the score file scored them.

    The message names the score file and the changed masks.
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


def proxy_fingerprint(path: str) -> str:
    """The fingerprint of one proxy mask: the sha1 of its file's bytes.

    The generator writes byte-identical PNGs for the same arguments, so a
    regenerated folder with the same seed keeps its fingerprints, and any
    other change (seed, size, noise, an edited mask) changes them. A mask
    re-encoded with the same pixels also counts as changed.

    Args:
        path (str): A mask file.

    Returns:
        str: 40 hex digits.
    """
    digest = hashlib.sha1()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def fingerprint_proxy_masks(proxy_dir: str,
                            image_ids,
                            suffix: str = '.png') -> Dict[str, str]:
    """Fingerprints of ``<proxy_dir>/<id><suffix>`` for every id.

    Raises:
        FileNotFoundError: naming the first missing mask.
    """
    fingerprints = {}
    for image_id in image_ids:
        path = osp.join(proxy_dir, f'{image_id}{suffix}')
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'proxy mask of scored image {image_id!r} not found: {path} '
                '(cannot fingerprint what was scored)')
        fingerprints[str(image_id)] = proxy_fingerprint(path)
    return fingerprints


def dump_mask_scores(scores: Mapping[str, Mapping[str, Optional[float]]],
                     path: str,
                     meta: Optional[dict] = None,
                     overwrite: bool = False,
                     proxy_dir: Optional[str] = None,
                     proxy_suffix: str = '.png') -> str:
    """Validate and write a score file.

    Args:
        scores: ``image id -> {'AC', 'CD', 'SC', 'P', 'SF'}``; ``P`` and
            ``SF`` may be ``None`` or left out.
        path: Destination ``.json`` file.
        meta: Free-form provenance stored under ``"meta"`` (the tool and
            its settings).
        overwrite: Replace an existing file. Without it an existing file
            raises ``FileExistsError``.
        proxy_dir: The folder of the scored masks
            ``<proxy_dir>/<id><proxy_suffix>``; their fingerprints
            (:func:`proxy_fingerprint`) are recorded under ``"proxies"``.
            Defaults to ``meta['proxy_dir']`` when present. Without either,
            no fingerprints are written and a dataset cannot tell whether
            the scores still match the masks.
        proxy_suffix: File suffix of the masks. Defaults to ``'.png'``.

    Returns:
        str: ``path``.
    """
    if osp.exists(path) and not overwrite:
        raise FileExistsError(
            f'{path} already exists; refusing to overwrite a score file '
            '(pass overwrite=True, or --overwrite to the tool)')
    clean = validate_mask_scores(scores, path)
    meta = dict(meta or {})
    if proxy_dir is None and isinstance(meta.get('proxy_dir'), str):
        proxy_dir = meta['proxy_dir']
    payload = dict(
        format=SCORE_FILE_FORMAT,
        version=SCORE_FILE_VERSION,
        fields=list(SCORE_FIELDS),
        meta=meta,
        scores=clean)
    if proxy_dir is not None:
        payload['proxies'] = dict(
            hash=PROXY_HASH,
            dir=os.fspath(proxy_dir),
            suffix=proxy_suffix,
            fingerprints=fingerprint_proxy_masks(proxy_dir, clean,
                                                 proxy_suffix))
    parent = osp.dirname(osp.abspath(path))
    os.makedirs(parent, exist_ok=True)
    # Write then rename, so an interrupted run never leaves a partial file
    # where a previous complete one stood.
    tmp_path = f'{path}.tmp-{os.getpid()}'
    with open(tmp_path, 'w') as f:
        json.dump(payload, f, indent=1, sort_keys=True)
    os.replace(tmp_path, path)
    return path


class MaskScoreFile(NamedTuple):
    """A loaded score file.

    Attributes:
        path (str): The file.
        scores (dict): ``image id -> {'AC', 'CD', 'SC', 'P', 'SF'}``.
        meta (dict): The writer's provenance and settings.
        fingerprints (dict | None): ``image id -> sha1`` of each scored
            proxy mask, None for a file without them.
        proxy_dir (str | None): The scored folder as the writer named it.
    """
    path: str
    scores: MaskScores
    meta: dict
    fingerprints: Optional[Dict[str, str]]
    proxy_dir: Optional[str]


_SHA1 = re.compile(r'[0-9a-f]{40}')


def _read_proxies(path: str, section, scores: MaskScores):
    if not isinstance(section, dict) or section.get('hash') != PROXY_HASH:
        raise MaskScoreFileError(
            f'{path}: "proxies" must be a dict with "hash": "{PROXY_HASH}", '
            f'got {section!r:.200}')
    fingerprints = section.get('fingerprints')
    if not isinstance(fingerprints, dict) or not all(
            isinstance(v, str) and _SHA1.fullmatch(v)
            for v in fingerprints.values()):
        raise MaskScoreFileError(
            f'{path}: "proxies"."fingerprints" must map image ids to sha1 '
            'hex digests')
    if set(fingerprints) != set(scores):
        missing = sorted(set(scores) - set(fingerprints))
        extra = sorted(set(fingerprints) - set(scores))
        raise MaskScoreFileError(
            f'{path}: the proxy fingerprints do not cover the scored images '
            f'(no fingerprint: {missing[:5]}, fingerprint but no score: '
            f'{extra[:5]})')
    return dict(fingerprints), section.get('dir')


def load_mask_score_file(path: str) -> MaskScoreFile:
    """Read and validate a score file, with its provenance and the
    fingerprints of the scored proxy masks.

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
    scores = validate_mask_scores(payload['scores'], path)
    meta = payload.get('meta')
    fingerprints = proxy_dir = None
    if payload.get('proxies') is not None:
        fingerprints, proxy_dir = _read_proxies(path, payload['proxies'],
                                                scores)
    return MaskScoreFile(path, scores, meta if isinstance(meta, dict) else {},
                         fingerprints, proxy_dir)


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
    return load_mask_score_file(path).scores


def stale_proxy_masks(
        score_file: MaskScoreFile,
        mask_paths: Mapping[str, str],
        fingerprint: Callable[[str], str] = proxy_fingerprint) -> List[str]:
    """The masks that are no longer the ones ``score_file`` scored.

    Args:
        score_file (MaskScoreFile): A loaded file with fingerprints.
        mask_paths (Mapping[str, str]): ``image id -> mask path`` of the
            images to check (images the file did not score are ignored).
        fingerprint (Callable[[str], str]): Fingerprint of a mask path
            (the sha1 of its bytes); a storage backend's reader can be put
            in. A ``FileNotFoundError`` counts as a changed mask.

    Returns:
        list[str]: Paths of the masks that are missing or whose
        fingerprint differs, in ``mask_paths`` order.

    Raises:
        ValueError: ``score_file`` holds no fingerprints.
    """
    if score_file.fingerprints is None:
        raise ValueError(f'{score_file.path} records no proxy fingerprints')
    stale = []
    for image_id, mask_path in mask_paths.items():
        recorded = score_file.fingerprints.get(image_id)
        if recorded is None:
            continue
        try:
            current = fingerprint(mask_path)
        except FileNotFoundError:
            current = None
        if current != recorded:
            stale.append(mask_path)
    return stale
