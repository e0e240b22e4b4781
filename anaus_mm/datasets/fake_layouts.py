"""Tiny synthetic copies of the public dataset layouts, for tests and demos.

Each ``make_<dataset>(root, ...)`` writes a handful of small images and
masks in exactly the folder / file naming of the real release (see each
dataset class) and returns the folder to use as ``data_root``. Images are
speckle noise with a bright elliptic "lesion"; masks cover the ellipse.
"""
import csv
import json
import os
import os.path as osp

import numpy as np
from PIL import Image


def _blob(size, rng):
    h = w = size
    yy, xx = np.mgrid[:h, :w]
    cy, cx = rng.uniform(0.3, 0.7, 2) * size
    ry, rx = rng.uniform(0.12, 0.25, 2) * size
    mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    img = rng.gamma(2.0, 30.0, (h, w))
    img[mask] += 90
    return np.clip(img, 0, 255).astype(np.uint8), mask.astype(np.uint8)


def _save(path, array, mode=None):
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array, mode).save(path)


def make_busi(root, n=3, size=32, seed=0):
    """``Dataset_BUSI_with_GT/{benign,malignant,normal}``; the second image
    of each lesion class has two extra masks (``_mask_1``, ``_mask_2``), the
    first malignant mask is RGBA."""
    rng = np.random.RandomState(seed)
    base = osp.join(root, 'Dataset_BUSI_with_GT')
    for cls in ('benign', 'malignant', 'normal'):
        for i in range(1, n + 1):
            img, mask = _blob(size, rng)
            stem = osp.join(base, cls, f'{cls} ({i})')
            _save(stem + '.png', img)
            if cls == 'normal':
                _save(stem + '_mask.png', np.zeros_like(mask))
                continue
            m = mask * 255
            if cls == 'malignant' and i == 1:
                rgba = np.stack([m, m, m, np.full_like(m, 255)], -1)
                _save(stem + '_mask.png', rgba, 'RGBA')
            else:
                _save(stem + '_mask.png', m)
            if i == 2:
                for k in (1, 2):
                    extra = np.zeros_like(m)
                    extra[k:k + 3, k:k + 3] = 255
                    _save(stem + f'_mask_{k}.png', extra)
    return root


def _pairs(img_dir, mask_dir, names, size, rng, mask_ext=None):
    for name in names:
        img, mask = _blob(size, rng)
        _save(osp.join(img_dir, name), img)
        mname = name if mask_ext is None else \
            osp.splitext(name)[0] + mask_ext
        _save(osp.join(mask_dir, mname), mask * 255)


def make_udiat(root, n=6, size=32, seed=0):
    """``DatasetB/original/000001.png`` + ``DatasetB/GT/000001.png``."""
    rng = np.random.RandomState(seed)
    base = osp.join(root, 'DatasetB')
    _pairs(osp.join(base, 'original'), osp.join(base, 'GT'),
           [f'{i:06d}.png' for i in range(1, n + 1)], size, rng)
    return root


def make_tn3k(root, n_trainval=6, n_test=3, size=32, seed=0):
    """``trainval-image/``, ``trainval-mask/``, ``test-image/``,
    ``test-mask/`` (JPEG) and ``tn3k-trainval-fold{0..4}.json``."""
    rng = np.random.RandomState(seed)
    for part, n in (('trainval', n_trainval), ('test', n_test)):
        _pairs(osp.join(root, f'{part}-image'), osp.join(root, f'{part}-mask'),
               [f'{i:04d}.jpg' for i in range(n)], size, rng)
    for f in range(5):
        val = [i for i in range(n_trainval) if i % 5 == f]
        train = [i for i in range(n_trainval) if i % 5 != f]
        with open(osp.join(root, f'tn3k-trainval-fold{f}.json'), 'w') as fh:
            json.dump(dict(train=train, val=val), fh)
    return root


def make_ddti(root, n_cases=3, per_case=2, size=32, seed=0):
    """``1_or_data/image/<case>_<k>.PNG`` + ``1_or_data/mask/``."""
    rng = np.random.RandomState(seed)
    names = [f'{c}_{k}.PNG' for c in range(1, n_cases + 1)
             for k in range(1, per_case + 1)]
    _pairs(osp.join(root, '1_or_data', 'image'),
           osp.join(root, '1_or_data', 'mask'), names, size, rng)
    return root


def make_tg3k(root, n=6, size=32, seed=0):
    """``thyroid-image/0000.jpg`` + ``thyroid-mask/0000.jpg`` and
    ``tg3k-trainval.json``."""
    rng = np.random.RandomState(seed)
    _pairs(osp.join(root, 'thyroid-image'), osp.join(root, 'thyroid-mask'),
           [f'{i:04d}.jpg' for i in range(n)], size, rng)
    with open(osp.join(root, 'tg3k-trainval.json'), 'w') as fh:
        json.dump(dict(train=list(range(n - 2)), val=[n - 2, n - 1]), fh)
    return root


def _camus_label(size, rng):
    img, blob = _blob(size, rng)
    label = np.zeros((size, size), np.uint8)
    label[size // 4:size // 2, size // 4:3 * size // 4] = 2
    label[size // 4 + 2:size // 2 - 2, size // 4 + 2:3 * size // 4 - 2] = 1
    label[size // 2 + 2:3 * size // 4, size // 3:2 * size // 3] = 3
    return img, label


def make_camus(root, n_patients=3, size=32, fmt='nifti', seed=0):
    """``database_nifti/patientXXXX/patientXXXX_{2CH,4CH}_{ED,ES}[_gt]
    .nii.gz`` (``fmt='nifti'``) or ``training/patientXXXX/...mhd + .raw``
    (``fmt='mhd'``); the last patient of the mhd layout has no ground truth
    (like the 2019 test set)."""
    from .medical_io import write_mhd, write_nifti
    rng = np.random.RandomState(seed)
    sub = 'database_nifti' if fmt == 'nifti' else 'training'
    for p in range(1, n_patients + 1):
        pid = f'patient{p:04d}'
        folder = osp.join(root, sub, pid)
        os.makedirs(folder, exist_ok=True)
        for view in ('2CH', '4CH'):
            for phase in ('ED', 'ES'):
                img, label = _camus_label(size, rng)
                stem = osp.join(folder, f'{pid}_{view}_{phase}')
                if fmt == 'nifti':
                    write_nifti(stem + '.nii.gz', img)
                    write_nifti(stem + '_gt.nii.gz', label)
                else:
                    write_mhd(stem + '.mhd', img)
                    if p < n_patients or n_patients == 1:
                        write_mhd(stem + '_gt.mhd', label)
    return root


def make_hmcqu(root, n_videos=3, frames=6, n_masks=3, size=32, seed=0):
    """``HMC-QU/A4C/ES000<k> _4CH_1.avi``, ``LV Ground-truth Segmentation
    Masks/Mask_ES000<k> _4CH_1.mat`` ('predicted': frames x H x W) and
    ``A4C.csv`` (start frame 2)."""
    import cv2
    from scipy.io import savemat
    rng = np.random.RandomState(seed)
    vdir = osp.join(root, 'HMC-QU', 'A4C')
    mdir = osp.join(root, 'LV Ground-truth Segmentation Masks')
    os.makedirs(vdir, exist_ok=True)
    os.makedirs(mdir, exist_ok=True)
    rows = [['ECHO', 'One cardiac-cycle frames',
             'LV Wall Ground-truth Segmentation Masks']]
    for v in range(1, n_videos + 1):
        echo = f'ES{v:04d} _4CH_1'
        writer = cv2.VideoWriter(osp.join(vdir, echo + '.avi'),
                                 cv2.VideoWriter_fourcc(*'MJPG'), 25,
                                 (2 * size, 2 * size))
        for _ in range(frames):
            img, _ = _blob(2 * size, rng)
            writer.write(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
        writer.release()
        masks = np.stack([_blob(size, rng)[1] for _ in range(n_masks)])
        savemat(osp.join(mdir, f'Mask_{echo}.mat'), dict(predicted=masks))
        rows.append([echo, '2', 'ü'])
    with open(osp.join(root, 'A4C.csv'), 'w', newline='') as f:
        csv.writer(f).writerows(rows)
    return root


def make_pocus(root, n_videos=2, frames=3, size=32, seed=0):
    """``image_dataset/{covid,pneumonia,regular}/<video>_frame<k>.jpg``
    (plus an ignored ``uninformative`` folder)."""
    rng = np.random.RandomState(seed)
    base = osp.join(root, 'image_dataset')
    prefix = dict(covid='Cov', pneumonia='Pneu', regular='Reg',
                  uninformative='Uninf')
    for cls, pre in prefix.items():
        for v in range(n_videos):
            for k in range(frames):
                _save(osp.join(base, cls, f'{pre}-video{v}.mp4_frame{k}.jpg'),
                      _blob(size, rng)[0])
    return base


def make_butterfly(root, classes=('2ch', 'lungs', 'thyroid'), n_patients=2,
                   per_patient=2, size=32, seed=0):
    """``butterfly_dataset/{training,test}/<class>/<patient>_<k>.png``."""
    rng = np.random.RandomState(seed)
    base = osp.join(root, 'butterfly_dataset')
    for part, pids in (('training', range(n_patients)),
                       ('test', range(100, 100 + max(1, n_patients // 2)))):
        for cls in classes:
            for p in pids:
                for k in range(per_patient):
                    _save(osp.join(base, part, cls, f'{p}_{cls}{k}.png'),
                          _blob(size, rng)[0])
    return base


SIM_CLASSES = ('background', 'subcutaneous', 'fascia', 'parenchyma',
               'muscle', 'vessel', 'lesion')


def make_simulated(root, n=6, size=32, seed=0):
    """The simulator's layout (``images/``, ``masks/``, ``labels.csv``,
    ``meta.json``) with the simulator's seven anatomy classes (lesion = 6):
    horizontal tissue bands and an elliptic lesion."""
    rng = np.random.RandomState(seed)
    rows = []
    for i in range(n):
        img, mask = _blob(size, rng)
        label = np.zeros_like(mask)
        bands = np.linspace(2, size, 5).astype(int)
        for k in range(4):
            label[bands[k]:bands[k + 1]] = k + 1
        label[size // 2 - 2:size // 2 + 2, :4] = 5
        label[mask > 0] = 6
        _save(osp.join(root, 'images', f'sim_{i:03d}.png'), img)
        _save(osp.join(root, 'masks', f'sim_{i:03d}.png'), label)
        cls = ('benign', 'malignant')[i % 2]
        rows.append([f'sim_{i:03d}.png', cls, i % 2])
    with open(osp.join(root, 'labels.csv'), 'w', newline='') as f:
        csv.writer(f).writerows([['filename', 'label', 'label_id']] + rows)
    palette = [[0, 0, 0], [230, 200, 160], [250, 250, 120], [200, 120, 120],
               [180, 60, 60], [60, 60, 220], [60, 220, 60]]
    with open(osp.join(root, 'meta.json'), 'w') as f:
        json.dump(dict(classes=list(SIM_CLASSES), ids=list(range(7)),
                       palette=palette), f)
    return root


def make_image_folder(root, n=4, size=32, with_masks=True, seed=0):
    """``images/a/x.jpg``... and ``masks/a/x.png`` (same relative path)."""
    rng = np.random.RandomState(seed)
    for i in range(n):
        rel = osp.join(f'site{i % 2}', f'scan_{i}')
        img, mask = _blob(size, rng)
        _save(osp.join(root, 'images', rel + ('.jpg' if i % 2 else '.png')),
              img)
        if with_masks:
            _save(osp.join(root, 'masks', rel + '.png'), mask)
    return root
