# Copyright (c) mmattn contributors. All rights reserved.
"""The SAL pipeline's report: the score histogram with ``tau``, a picture
of kept and dropped proxies, and a markdown/JSON summary."""
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np

__all__ = [
    'plot_score_histogram', 'pick_examples', 'plot_examples',
    'markdown_report', 'label_palette', 'val_correlation'
]


def label_palette(num_labels: int = 256) -> np.ndarray:
    """PASCAL VOC's colour map (label ``k`` -> RGB), ``(num_labels, 3)``
    uint8; label 255 (ignore) is white."""
    palette = np.zeros((num_labels, 3), dtype=np.uint8)
    for label in range(num_labels):
        c, r, g, b = label, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette[label] = (r, g, b)
    if num_labels > 255:
        palette[255] = (255, 255, 255)
    return palette


def plot_score_histogram(path: str, scores: Sequence[float], tau: float,
                         score_key: str, rule: str) -> None:
    """Histogram of the training images' scores, kept (``>= tau``) and
    dropped in two colours, ``tau`` marked.

    Args:
        path (str): The PNG to write.
        scores (Sequence[float]): One score per training image.
        tau (float): The threshold.
        score_key (str): ``'SF'`` or ``'SC'`` (axis label).
        rule (str): The tau rule (legend).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    values = np.asarray(scores, dtype=np.float64)
    bins = np.linspace(0, 1, 26)
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    kept = values >= tau
    ax.hist([values[kept], values[~kept]], bins=bins, stacked=True,
            color=['tab:green', 'tab:red'], alpha=0.8,
            label=[f'kept {int(kept.sum())}',
                   f'dropped {int((~kept).sum())}'])
    ax.axvline(tau, color='k', linestyle='--',
               label=f'tau = {tau:.4f} ({rule})')
    ax.set_xlabel(f'{score_key} of the training proxies')
    ax.set_ylabel('images')
    ax.set_xlim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def pick_examples(scores: Dict[str, float], tau: float,
                  per_row: int) -> Dict[str, List[str]]:
    """Up to ``per_row`` kept and dropped ids, spread evenly over each
    group's score range (highest first).

    Returns:
        dict: ``kept`` and ``dropped`` id lists.
    """
    ranked = sorted(scores, key=lambda i: (-scores[i], i))
    picked = {}
    for name, group in (('kept', [i for i in ranked if scores[i] >= tau]),
                        ('dropped', [i for i in ranked
                                     if scores[i] < tau])):
        if len(group) <= per_row:
            picked[name] = group
        else:
            index = np.linspace(0, len(group) - 1, per_row).round()
            picked[name] = [group[int(k)] for k in index]
    return picked


def plot_examples(path: str, examples: Dict[str, List[str]],
                  scores: Dict[str, float], score_key: str, tau: float,
                  img_dir: str, proxy_dir: str, img_suffix: str) -> None:
    """Kept proxies in the top row, dropped ones below: each image with its
    proxy mask overlaid (VOC colours), titled with its id and score.

    Args:
        path (str): The PNG to write.
        examples (dict): ``kept`` and ``dropped`` ids
            (:func:`pick_examples`).
        scores (dict): id -> score.
        score_key (str): The score's name.
        tau (float): The threshold.
        img_dir, proxy_dir (str): Folders of images and proxy masks.
        img_suffix (str): Image suffix.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import mmcv
    from PIL import Image
    palette = label_palette()
    columns = max(1, max(len(v) for v in examples.values()))
    fig, axes = plt.subplots(2, columns, figsize=(2.2 * columns, 5.8),
                             squeeze=False)
    for row, name in enumerate(('kept', 'dropped')):
        for col in range(columns):
            ax = axes[row][col]
            ax.axis('off')
            ids = examples.get(name, [])
            if col >= len(ids):
                if col == 0:
                    ax.text(0.5, 0.5, f'no {name} image', ha='center',
                            va='center')
                continue
            image_id = ids[col]
            image = mmcv.imread(
                osp.join(img_dir, image_id + img_suffix), channel_order='rgb')
            with Image.open(osp.join(proxy_dir, image_id + '.png')) as im:
                mask = np.array(im)
            colour = palette[mask.clip(0, 255)]
            fg = (mask > 0)[..., None]
            blend = np.where(fg, 0.45 * image + 0.55 * colour, image)
            ax.imshow(blend.astype(np.uint8))
            ax.set_title(f'{image_id}\n{score_key} {scores[image_id]:.3f} '
                         f'{name}', fontsize=8,
                         color='tab:green' if name == 'kept' else 'tab:red')
    fig.suptitle(f'proxy masks kept ({score_key} >= {tau:.4f}) and dropped',
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> List[str]:
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join(' --- ' for _ in header) + '|']
    for row in rows:
        lines.append('| ' + ' | '.join(str(c) for c in row) + ' |')
    return lines


def markdown_report(summary: dict) -> str:
    """The report page from the JSON summary the report stage writes.

    Args:
        summary (dict): With ``data_root``, ``stages`` (name -> status,
            seconds), ``selection``, ``scorer``, ``evaluation`` and
            ``files``.

    Returns:
        str: Markdown.
    """
    lines = ['# SAL pipeline report', '',
             f'Data: `{summary["data_root"]}`; work dir: '
             f'`{summary["work_dir"]}`.', '', '## Stages', '']
    lines += _table(('stage', 'status', 'seconds'), [
        (name, s['status'] + (f' ({s["reason"]})' if s.get('reason') else
                              ''), f'{s.get("seconds", 0.0):.1f}')
        for name, s in summary['stages'].items()
    ])
    sel = summary['selection']
    lines += ['', '## Selection', '',
              f'- score: `{sel["score_key"]}` of {sel["num_images"]} '
              f'training proxies (score file `{sel["score_file"]}`)',
              f'- rule: {sel["rule_text"]}',
              f'- tau = {sel["tau"]:.4f}: keeps {sel["kept"]}/'
              f'{sel["num_images"]} images ({sel["kept_fraction"]:.1%})']
    if sel.get('classes_without_kept_image'):
        lines.append('- WARNING: classes with no kept image (never trained '
                     f'on): {sel["classes_without_kept_image"]}')
    if sel.get('val_correlation'):
        corr = sel['val_correlation']
        lines.append(f'- val proxies: Pearson of `{sel["score_key"]}` with '
                     'the true quality (class-aware AC vs ground truth) '
                     f'{corr:.3f}')
    scorer = summary.get('scorer')
    if scorer:
        lines += ['', '## Scorer', '']
        lines += [f'- {k}: {v}' for k, v in scorer.items()]
    ev = summary.get('evaluation')
    lines += ['', '## Evaluation on the val split', '']
    if ev:
        lines += _table(('metric', 'value'),
                        [(k, f'{v:.2f}' if isinstance(v, float) else v)
                         for k, v in ev.items()])
    else:
        lines.append(f'Not evaluated: {summary.get("not_evaluated")}.')
    lines += ['', '## Files', '']
    lines += [f'- {k}: `{v}`' for k, v in summary['files'].items()]
    lines += ['', '![score histogram](score_histogram.png)', '',
              '![kept and dropped proxies](examples.png)', '']
    return '\n'.join(lines)


def val_correlation(val_results: Optional[Dict[str, dict]],
                    score_key: str) -> Optional[float]:
    """Pearson correlation of the val proxies' score with ``AC_gt_cls``,
    or None without val results."""
    if not val_results or len(val_results) < 2:
        return None
    from mmattn.segmentation.mask_scoring.metrics import pearson_correlation
    ids = sorted(val_results)
    score = np.array([val_results[i][score_key] for i in ids], np.float64)
    truth = np.array([val_results[i]['AC_gt_cls'] for i in ids], np.float64)
    return float(pearson_correlation(score, truth))
