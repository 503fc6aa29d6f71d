# Copyright (c) mmattn contributors. All rights reserved.
"""mmattn.segmentation.wsss.proxies and tools/make_proxies.py: proxy masks
from class activation maps (background rule, pixel-adaptive refinement,
low-confidence ignore), written resumably and never over a user's file."""
import importlib.util
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from mmattn.segmentation.mask_scoring import (accuracy_score,
                                              load_scoring_inputs, read_tags)
from mmattn.segmentation.wsss import (PROXY_MANIFEST, ProxyOptions,
                                      ProxyOutputDir, ProxyOutputError,
                                      background_score, cam_to_proxy,
                                      low_confidence, par_affinity,
                                      pixel_adaptive_refine, score_shares,
                                      scores_with_background)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = 'tools/make_proxies.py'
CONFIG = osp.join(REPO_ROOT, 'configs', 'wsss', 'cam_r18_tiny_synthetic.py')


def _crf_installed() -> bool:
    return importlib.util.find_spec('pydensecrf') is not None


# ---------------------------------------------------------------------------
# Hand-worked cases


def test_background_rules_on_a_2x2_cam():
    # Two classes on a 2x2 image.
    cams = torch.tensor([[[0.9, 0.2], [0.1, 0.0]], [[0.3, 0.5], [0.05, 0.0]]])
    # Threshold: 0.25 everywhere.
    bg = background_score(cams, 'threshold', threshold=0.25)
    assert bg.shape == (1, 2, 2)
    assert torch.equal(bg, torch.full((1, 2, 2), 0.25))
    # Power: (1 - max) ** 2 with max [[0.9, 0.5], [0.1, 0.0]].
    bg = background_score(cams, 'power', alpha=2.0)
    torch.testing.assert_close(
        bg, torch.tensor([[[0.01, 0.25], [0.81, 1.0]]]), atol=1e-6, rtol=0)

    # Seeds: both rules give [[1, 2], [0, 0]] here.
    for options in (ProxyOptions(bg_threshold=0.25, refine='none'),
                    ProxyOptions(
                        background='power', bg_alpha=2.0, refine='none')):
        scores, labels = scores_with_background(cams, [1, 1], options)
        assert labels.tolist() == [0, 1, 2]
        assert scores.shape == (3, 2, 2)
        assert labels[scores.argmax(0)].tolist() == [[1, 2], [0, 0]]
    # Threshold 0.6: only the 0.9 pixel stays foreground.
    scores, labels = scores_with_background(cams, [1, 1],
                                            ProxyOptions(bg_threshold=0.6))
    assert labels[scores.argmax(0)].tolist() == [[1, 0], [0, 0]]


def test_untagged_classes_never_appear():
    cams = torch.tensor([[[0.9, 0.2], [0.1, 0.0]], [[0.3, 0.5], [0.05, 0.0]]])
    # Only class 2 (channel 1) is tagged: channel 0's 0.9 is dropped, and
    # the power background uses the tagged classes' maximum.
    scores, labels = scores_with_background(
        cams, [0, 1], ProxyOptions(background='power', bg_alpha=1.0))
    assert labels.tolist() == [0, 2]
    torch.testing.assert_close(scores[0],
                               torch.tensor([[0.7, 0.5], [0.95, 1.0]]))
    # No tag at all: background only, everywhere.
    image = np.zeros((2, 2, 3), np.uint8)
    proxy = cam_to_proxy(image, cams, [0, 0], ProxyOptions(bg_threshold=0.1))
    assert (proxy.proxy == 0).all() and not proxy.reference.any()


def test_ignore_rules():
    # Shares of 3 channels at 3 pixels (1x3 image).
    shares = torch.tensor([[[0.50, 0.70, 0.40]], [[0.45, 0.20, 0.35]],
                           [[0.05, 0.10, 0.25]]])
    # Margins 0.05, 0.50, 0.05.
    assert low_confidence(shares, 'margin',
                          0.1).tolist() == [[True, False, True]]
    # Top shares 0.5, 0.7, 0.4.
    assert low_confidence(shares, 'confidence',
                          0.6).tolist() == [[True, False, True]]
    assert low_confidence(shares, 'confidence',
                          0.45).tolist() == [[False, False, True]]
    assert not low_confidence(shares, 'none', 0.9).any()
    # One channel (background only): margin = its share, 1.
    assert not low_confidence(torch.ones(1, 2, 2), 'margin', 0.5).any()
    # Shares of [bg 0.3, cam 0.2] are 0.6 / 0.4.
    torch.testing.assert_close(
        score_shares(torch.tensor([[[0.3]], [[0.2]]])),
        torch.tensor([[[0.6]], [[0.4]]]))


def test_ignore_in_the_proxy():
    # refine='none': bg 0.3 against CAMs 0.9 (kept), 0.32 (margin 0.03,
    # ignored) and 0.1 (background, kept).
    cams = torch.tensor([[[0.9, 0.32, 0.1]]])
    image = np.zeros((1, 3, 3), np.uint8)
    proxy = cam_to_proxy(image, cams, [1],
                         ProxyOptions(refine='none', ignore_thr=0.1))
    assert proxy.seed.tolist() == [[1, 1, 0]]
    assert proxy.refined.tolist() == [[1, 1, 0]]
    assert proxy.proxy.tolist() == [[1, 255, 0]]
    assert proxy.reference.tolist() == [[True, True, False]]
    assert proxy.proxy.dtype == np.uint8
    proxy = cam_to_proxy(image, cams, [1],
                         ProxyOptions(refine='none', ignore='none'))
    assert proxy.proxy.tolist() == [[1, 1, 0]]


def _two_regions(size=16):
    """Left half red, right half blue; a CAM of the left object shifted 2
    pixels to the right (misses 2 columns, spills over 3)."""
    image = np.zeros((size, size, 3), np.uint8)
    half = size // 2
    image[:, :half] = (200, 30, 30)
    image[:, half:] = (30, 30, 200)
    truth = np.zeros((size, size), np.uint8)
    truth[:, :half] = 1
    cam = torch.zeros(1, size, size)
    cam[0, :, 2:half + 2] = 1.0
    cam[0, :, half + 2] = 0.5
    return image, truth, cam


def test_par_does_not_bleed_across_colour_edges():
    image, truth, cam = _two_regions()
    rgb = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    refined = pixel_adaptive_refine(rgb, cam, iters=10, dilations=(1, 2, 4))
    assert refined.shape == cam.shape
    left, right = refined[0, :, :8], refined[0, :, 8:]
    # The region of the object keeps high scores, the other side's spill
    # fades: every left pixel is above every right pixel.
    assert left.min() > 0.5 and right.max() < 0.3
    assert left.min() > right.max()
    # Closer to the region truth than the input (mean absolute error).
    err_in = (cam[0] - torch.from_numpy(truth)).abs().mean()
    err_out = (refined[0] / refined.max() -
               torch.from_numpy(truth)).abs().mean()
    assert err_out < 0.75 * err_in
    # The proxy: the seed is wrong on 2 + 3 columns, the refined map right.
    proxy = cam_to_proxy(image, cam, [1],
                         ProxyOptions(par_dilations=(1, 2, 4)))
    assert (proxy.seed != truth).sum() == 5 * 16
    assert (proxy.refined == truth).all()
    assert (proxy.proxy == truth).all()  # confident everywhere
    # The reference is the seed's foreground, not the refined one.
    assert (proxy.reference == (proxy.seed > 0)).all()


def test_par_weights_average():
    image = torch.rand(2, 3, 12, 10)
    aff = par_affinity(image, dilations=(1, 3))
    assert aff.shape == (2, 1, 16, 12, 10)
    torch.testing.assert_close(aff.sum(2), torch.ones(2, 1, 12, 10))
    # A constant map stays constant; batched and unbatched agree.
    const = torch.full((2, 2, 12, 10), 0.4)
    torch.testing.assert_close(
        pixel_adaptive_refine(image, const, dilations=(1, 3)), const)
    scores = torch.rand(2, 2, 12, 10)
    batched = pixel_adaptive_refine(image, scores, iters=3, dilations=(1, 3))
    single = pixel_adaptive_refine(
        image[1], scores[1], iters=3, dilations=(1, 3))
    torch.testing.assert_close(batched[1], single)
    assert torch.equal(
        pixel_adaptive_refine(image, scores, iters=0), scores.float())


def test_options_are_checked():
    with pytest.raises(ValueError, match='background'):
        ProxyOptions(background='otsu')
    with pytest.raises(ValueError, match='bg_threshold'):
        ProxyOptions(bg_threshold=1.5)
    with pytest.raises(ValueError, match='bg_alpha'):
        ProxyOptions(bg_alpha=0)
    with pytest.raises(ValueError, match='par_dilations'):
        ProxyOptions(par_dilations=(1, 0))
    with pytest.raises(ValueError, match='ignore'):
        ProxyOptions(ignore='entropy')
    assert ProxyOptions().to_dict()['par_dilations'] == [1, 2, 4, 8, 12, 24]


@pytest.mark.skipif(_crf_installed(), reason='pydensecrf is installed')
def test_crf_without_the_package_names_it():
    with pytest.raises(ImportError, match='pydensecrf2'):
        ProxyOptions(refine='crf')


def test_output_dir_refuses_foreign_files(tmp_path):
    folder = tmp_path / 'out'
    folder.mkdir()
    (folder / 'a.png').write_bytes(b'mine')
    out = ProxyOutputDir(str(folder), 'proxy')
    with pytest.raises(ProxyOutputError, match='did not write'):
        out.claim(['a', 'b'], dict(x=1), overwrite=True)
    assert (folder / 'a.png').read_bytes() == b'mine'
    assert not (folder / PROXY_MANIFEST).exists()
    # A folder of its own: resumable with the same settings.
    own = ProxyOutputDir(str(tmp_path / 'own'), 'proxy')
    assert own.claim(['a', 'b'], dict(x=1)) == []
    (tmp_path / 'own' / 'a.png').write_bytes(b'made')
    (tmp_path / 'own' / '.b.png.123.tmp.png').write_bytes(b'half')
    assert own.claim(['a', 'b'], dict(x=1)) == ['a.png']
    assert not (tmp_path / 'own' / '.b.png.123.tmp.png').exists()
    with pytest.raises(ProxyOutputError, match='other settings'):
        own.claim(['a', 'b'], dict(x=2))
    assert own.claim(['a', 'b'], dict(x=2), overwrite=True) == []
    assert not (tmp_path / 'own' / 'a.png').exists()


# ---------------------------------------------------------------------------
# The tool, end to end


@pytest.fixture(scope='module')
def proxy_data(tmp_path_factory):
    """6 generated images of 48 px and two untrained checkpoints: one that
    fits the tiny config, one with 4 foreground classes that does not."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import save_checkpoint

    import mmattn  # noqa: F401 (registers the classifier)
    from mmattn.synthetic import make_seg_dataset
    from mmseg.registry import MODELS
    root = tmp_path_factory.mktemp('wsss_proxies')
    data = str(root / 'data')
    make_seg_dataset(
        data, num_images=6, seed=0, img_size=(48, 48), show_progress=False)
    cfg = Config.fromfile(CONFIG)
    init_default_scope('mmseg')
    torch.manual_seed(0)
    save_checkpoint(
        MODELS.build(cfg.model).state_dict(), str(root / 'fit.pth'))
    cfg.model.num_classes = 5
    save_checkpoint(
        MODELS.build(cfg.model).state_dict(), str(root / 'other.pth'))
    return dict(
        root=root,
        data=data,
        fit=str(root / 'fit.pth'),
        other=str(root / 'other.pth'))


def _args(d, *extra, ckpt='fit'):
    return [
        TOOL, CONFIG, d[ckpt], d['data'], '--proxy-dir', 'CAMProxy',
        '--ref-dir', 'CAMRef', '--no-progress', *extra
    ]


def _error_line(result):
    """The one error line on stderr (no traceback)."""
    assert 'Traceback' not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith('make_proxies.py: ')]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_tool_writes_resumes_and_protects(proxy_data, run_tool):
    from mmattn.segmentation.datasets.folder_check import \
        check_weak_seg_folder
    from mmattn.synthetic.seg import voc_palette
    d = proxy_data
    data = d['data']
    ids = open(osp.join(data,
                        'ImageSets/Segmentation/train.txt')).read().split()
    tags = read_tags(osp.join(data, 'cls_labels.npy'))

    out = run_tool(_args(d)).stdout
    assert f'wrote {len(ids)} proxy mask(s)' in out, out
    proxy_dir, ref_dir = osp.join(data, 'CAMProxy'), osp.join(data, 'CAMRef')
    for image_id in ids:
        with Image.open(osp.join(proxy_dir, image_id + '.png')) as im:
            assert im.mode == 'P' and im.size == (48, 48)
            palette = np.array(im.getpalette()[:768]).reshape(-1, 3)
            proxy = np.array(im)
        np.testing.assert_array_equal(palette, voc_palette())
        allowed = {0, 255} | {k + 1 for k in np.flatnonzero(tags[image_id])}
        assert set(np.unique(proxy).tolist()) <= allowed
        with Image.open(osp.join(ref_dir, image_id + '.png')) as im:
            assert im.mode == 'L' and im.size == (48, 48)
            assert set(np.unique(np.array(im)).tolist()) <= {0, 255}
        # What the coarse scores read; AC of the proxy against the CAM's
        # own foreground.
        inputs = load_scoring_inputs(image_id, proxy_dir, ref_dir,
                                     osp.join(data, 'JPEGImages'))
        ac = accuracy_score((inputs['proxy'] != 0) & (inputs['proxy'] != 255),
                            inputs['reference'])
        assert 0 <= ac <= 1
    manifest = json.load(open(osp.join(proxy_dir, PROXY_MANIFEST)))
    assert manifest['files'] == sorted(i + '.png' for i in ids)
    # WeakVOCDataset's folder check accepts the proxies.
    report = check_weak_seg_folder(data, mask_dir='CAMProxy')
    assert report.ok, report.problems

    # Resume: nothing to do; then one image whose proxy was lost.
    stamps = {
        i: os.stat(osp.join(proxy_dir, i + '.png')).st_mtime_ns
        for i in ids
    }
    out = run_tool(_args(d)).stdout
    assert 'wrote 0 proxy mask(s)' in out
    assert f'{len(ids)} image(s) already done' in out
    os.remove(osp.join(proxy_dir, ids[0] + '.png'))
    out = run_tool(_args(d)).stdout
    assert 'wrote 1 proxy mask(s)' in out
    for image_id in ids[1:]:
        assert os.stat(osp.join(proxy_dir, image_id +
                                '.png')).st_mtime_ns == stamps[image_id]

    # Other settings: refused, then replaced with --overwrite.
    result = run_tool(_args(d, '--ignore', 'none'), check=False)
    assert result.returncode == 2
    assert 'other settings' in _error_line(result)
    out = run_tool(_args(d, '--ignore', 'none', '--overwrite')).stdout
    assert f'wrote {len(ids)} proxy mask(s)' in out

    # A file the tool did not write: refused, even with --overwrite, and
    # left as it was; so are the generator's own proxies.
    foreign = osp.join(proxy_dir, 'notes.txt')
    with open(foreign, 'w') as f:
        f.write('mine')
    result = run_tool(_args(d, '--overwrite'), check=False)
    assert result.returncode == 2
    assert 'did not write' in _error_line(result)
    assert open(foreign).read() == 'mine'
    os.remove(foreign)
    theirs = osp.join(data, 'SegmentationClassProxy', ids[0] + '.png')
    before = open(theirs, 'rb').read()
    result = run_tool([TOOL, CONFIG, d['fit'], data, '--no-progress'],
                      check=False)
    assert result.returncode == 2
    assert 'SegmentationClassProxy' in _error_line(result)
    assert open(theirs, 'rb').read() == before


def test_tool_clear_errors(proxy_data, run_tool, tmp_path):
    d = proxy_data
    # A checkpoint of another model.
    result = run_tool(_args(d, ckpt='other'), check=False)
    assert result.returncode == 2
    line = _error_line(result)
    assert 'does not load strictly' in line and 'classifier.weight' in line
    # A missing data folder.
    result = run_tool([TOOL, CONFIG, d['fit'],
                       str(tmp_path / 'nowhere')],
                      check=False)
    assert result.returncode == 2
    assert 'data folder not found' in _error_line(result)
    # Ids without tags.
    split = osp.join(d['data'], 'ImageSets/Segmentation/train.txt')
    bad_split = tmp_path / 'split.txt'
    bad_split.write_text(open(split).read() + 'untagged_1\nuntagged_2\n')
    result = run_tool(
        _args(d, '--split', str(bad_split), '--proxy-dir', str(tmp_path / 'p'),
              '--ref-dir', str(tmp_path / 'r')),
        check=False)
    assert result.returncode == 1
    line = _error_line(result)
    assert '2 image id(s)' in line and 'untagged_1' in line
    assert not osp.exists(tmp_path / 'p')


def test_output_dir_refuses_stale_tags(tmp_path):
    """A resumed run whose images were made with other tags would keep
    stale masks: refused like other settings, replaced with overwrite."""
    out = ProxyOutputDir(str(tmp_path / 'own'), 'proxy')
    assert out.claim(['a', 'b'], dict(x=1), tags=dict(a='01', b='10')) == []
    for name in ('a', 'b'):
        (tmp_path / 'own' / f'{name}.png').write_bytes(b'made')
    # Same tags (and an image of another split added): resumes.
    assert out.claim(['a', 'b', 'c'], dict(x=1),
                     tags=dict(a='01', b='10', c='11')) == ['a.png', 'b.png']
    with pytest.raises(ProxyOutputError, match=r"other tags.*\['b'\]"):
        out.claim(['a', 'b'], dict(x=1), tags=dict(a='01', b='11'))
    assert (tmp_path / 'own' / 'b.png').read_bytes() == b'made'
    assert out.claim(['a', 'b'], dict(x=1), overwrite=True,
                     tags=dict(a='01', b='11')) == []
    assert not (tmp_path / 'own' / 'b.png').exists()
    manifest = json.load(open(tmp_path / 'own' / PROXY_MANIFEST))
    assert manifest['tags'] == dict(a='01', b='11')


def test_tool_refuses_proxies_of_changed_tags(proxy_data, run_tool):
    d = proxy_data
    data = d['data']
    tags = read_tags(osp.join(data, 'cls_labels.npy'))
    ids = open(osp.join(data,
                        'ImageSets/Segmentation/train.txt')).read().split()
    args = [TOOL, CONFIG, d['fit'], data, '--proxy-dir', 'RetagProxy',
            '--ref-dir', 'RetagRef', '--no-progress']
    run_tool(args)
    changed = dict(tags)
    changed[ids[1]] = 1 - np.asarray(tags[ids[1]])
    np.save(osp.join(data, 'retagged.npy'), changed)
    result = run_tool(args + ['--tag-file', 'retagged.npy'], check=False)
    assert result.returncode == 2
    line = _error_line(result)
    assert 'other tags' in line and ids[1] in line, line
    out = run_tool(args + ['--tag-file', 'retagged.npy',
                           '--overwrite']).stdout
    assert f'wrote {len(ids)} proxy mask(s)' in out
