# Copyright (c) mmattn contributors. All rights reserved.
"""The image tag file ``cls_labels.npy``: the one reader.

The file is the IRN/SEAM/PSA convention: an ``np.save`` of a dict from
image id (the image's file name without suffix) to a 0/1 vector over the
foreground classes (index ``k`` is class ``k + 1``; background has no
entry). ``tools/make_tags.py`` writes it (``wsss.tags.write_cls_labels``);
``WeakVOCDataset``, the mask-scoring tools, the SAL pipeline, the proxy
tool, ``tools/visualize_attention.py`` and the demo read it through
:func:`read_tags`, so they accept and refuse the same files with the same
messages.
"""
import os.path as osp
from typing import Dict, Optional

import numpy as np

__all__ = ['read_tags']


def read_tags(path: str,
              num_classes: Optional[int] = None) -> Dict[str, np.ndarray]:
    """Read ``cls_labels.npy``.

    Args:
        path (str): The tag file.
        num_classes (int, optional): Number of foreground classes. When
            given, every vector must have exactly this many entries.

    Returns:
        dict: image id (str) -> float64 tag vector ``(num_classes, )``.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: not a pickled dict of image id -> tag vector, or a
            vector of the wrong length; the message names ``path`` (and
            the image).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'image tag file not found: {path}')
    try:
        loaded = np.load(path, allow_pickle=True)
        tags = loaded.item() if loaded.dtype == object else None
    except Exception as e:  # numpy raises many kinds for a bad file
        raise ValueError(f'{path}: not a cls_labels.npy dict of image id -> '
                         f'tag vector ({e})') from e
    if not isinstance(tags, dict):
        got = type(tags).__name__ if tags is not None else \
            f'a {loaded.dtype} array'
        raise ValueError(f'{path}: expected an np.save of a dict image id -> '
                         f'tag vector (cls_labels.npy format), got {got}')
    out = {str(k): np.asarray(v, dtype=np.float64).reshape(-1)
           for k, v in tags.items()}
    if num_classes is not None:
        for img_id, vector in out.items():
            if vector.size != num_classes:
                raise ValueError(
                    f'{path}: image {img_id!r} has {vector.size} tags, '
                    f'expected {num_classes} (one per foreground class)')
    return out
