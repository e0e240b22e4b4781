"""Physics-level and I/O tests of the pymust ultrasound simulator.

All simulations are 128x128 (the simulator scales the centre frequency with
the image size, so these cost ~0.5 s each after a ~2 s per-process set-up).
"""
import csv
import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest

from anaus_mm.datasets.simulation import (ANATOMY_CLASSES, CLASSES_LESION,
                                          LABEL_COLUMNS, SimulationError,
                                          simulate_case, simulate_dataset,
                                          simulate_one)

SIZE = 128
CLI = 'tools/dataset_converters/simulate_us.py'
LESION = ANATOMY_CLASSES.index('lesion')
PARENCHYMA = ANATOMY_CLASSES.index('parenchyma')
RAYLEIGH_SNR = 1.0 / np.sqrt(4.0 / np.pi - 1.0)  # 1.913


@pytest.fixture(scope='module')
def cases():
    """A benign (even index) and a malignant (odd index) case."""
    return [simulate_case(i, 0, SIZE) for i in (0, 1)]


def _read(path):
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img


def _tmp_files(root):
    return [osp.join(d, n) for d, _, names in os.walk(root) for n in names
            if n.endswith('.tmp')]


# ------------------------------------------------------------------ physics
def test_speckle_snr_is_rayleigh():
    """Homogeneous phantom: envelope mean/std ~ 1.91 (fully developed).

    The SNR is estimated in 4x4 patches of the central field of view (on
    the polar beamforming grid, before log compression) and averaged. Each
    patch holds only ~50-100 independent speckle cells at this size, so a
    single patch estimate scatters by ~0.15; the mean over 16 patches has a
    random spread of ~0.05. Systematic effects add up to ~0.1 (residual
    gain variation within a patch, partially developed speckle next to the
    probe). A tolerance of +-0.3 covers that, while still failing for
    partially developed speckle (too few scatterers -> SNR << 1.9) or for
    a wrong envelope (e.g. log-compressed or squared data).
    """
    result = simulate_case(0, 3, SIZE, homogeneous=True)
    env = result.envelope.astype(np.float64)
    n_d, n_u = env.shape
    snrs = []
    for r0 in np.linspace(0.15, 0.75, 4):
        for c0 in np.linspace(0.1, 0.7, 4):
            patch = env[int(r0 * n_d):int((r0 + 0.15) * n_d),
                        int(c0 * n_u):int((c0 + 0.2) * n_u)]
            snrs.append(patch.mean() / patch.std())
    assert abs(np.mean(snrs) - RAYLEIGH_SNR) < 0.3, snrs
    # the homogeneous phantom is one tissue everywhere in the sector
    assert set(np.unique(result.mask)) == {0, PARENCHYMA}


def test_hypoechoic_lesion_darker_in_envelope(cases):
    for case in cases:
        intensity = case.envelope.astype(np.float64) ** 2
        lesion = case.polar_labels == LESION
        tissue = case.polar_labels == PARENCHYMA
        assert lesion.sum() > 50
        ratio_db = 10 * np.log10(intensity[lesion].mean()
                                 / intensity[tissue].mean())
        assert ratio_db < -4.0, (case.labels, ratio_db)


def test_mask_lines_up_with_image(cases):
    """Lesion pixels of the mask are darker than a ring around them."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    for case in cases:
        img = case.image.astype(np.float64)
        lesion = (case.mask == LESION).astype(np.uint8)
        ring = (cv2.dilate(lesion, kernel) > 0) & (lesion == 0) \
            & (case.mask == PARENCHYMA)
        assert ring.sum() > 30
        assert img[ring].mean() - img[lesion > 0].mean() > 10, case.labels
        # outside the imaged sector: black image and id 0
        assert case.image[case.mask == 0].max() == 0
        assert 0.4 < (case.mask > 0).mean() < 0.95


def test_simulate_one_outputs(cases):
    image, mask, labels = simulate_one(0, 0, SIZE)
    assert image.shape == mask.shape == (SIZE, SIZE)
    assert image.dtype == mask.dtype == np.uint8
    assert np.array_equal(image, cases[0].image)  # deterministic
    assert set(np.unique(mask)) <= set(range(len(ANATOMY_CLASSES)))
    assert {ANATOMY_CLASSES[i] for i in np.unique(mask)} >= {
        'background', 'subcutaneous', 'fascia', 'parenchyma', 'lesion'}
    assert labels['label'] == 'benign' and labels['label_id'] == 0
    assert cases[1].labels['label'] == 'malignant'
    assert cases[1].labels['shape'] == 'irregular'


# ---------------------------------------------------------------- datasets
def test_meta_masks_and_labels(sim_data_dir):
    with open(osp.join(sim_data_dir, 'meta.json')) as f:
        meta = json.load(f)
    assert meta['classes'] == list(ANATOMY_CLASSES)
    assert meta['classes'][0] == 'background'
    assert len(meta['palette']) == len(meta['classes'])
    assert meta['lesion_classes'] == list(CLASSES_LESION)
    assert meta['settings']['size'] == SIZE
    ids = set(meta['class_ids'].values())
    with open(osp.join(sim_data_dir, 'labels.csv')) as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0].keys()) == LABEL_COLUMNS
    assert len(rows) == meta['num'] == len(
        os.listdir(osp.join(sim_data_dir, 'images')))
    assert {r['label'] for r in rows} == set(CLASSES_LESION)
    for row in rows:
        assert CLASSES_LESION[int(row['label_id'])] == row['label']
        image = _read(osp.join(sim_data_dir, 'images', row['filename']))
        mask = _read(osp.join(sim_data_dir, 'masks', row['filename']))
        assert image.shape == mask.shape == (SIZE, SIZE)
        assert image.dtype == mask.dtype == np.uint8
        assert set(np.unique(mask)) <= ids
        assert (mask == LESION).any()


def test_same_seed_identical_across_workers(sim_data_dir, tmp_path,
                                            run_tool, cases):
    """2 worker processes reproduce the in-process set byte for byte."""
    # (in-process API: the forked workers inherit the calibration and DAS
    # matrix already computed here, which keeps the test fast)
    out = tmp_path / 'again'
    summary = simulate_dataset(str(out), 2, seed=0, workers=2, size=SIZE,
                               progress=False)
    assert summary['generated'] == 2
    for sub in ('images', 'masks'):
        assert sorted(os.listdir(out / sub)) == ['000000.png', '000001.png']
        for name in os.listdir(out / sub):
            with open(out / sub / name, 'rb') as a, \
                    open(osp.join(sim_data_dir, sub, name), 'rb') as b:
                assert a.read() == b.read(), (sub, name)
    with open(out / 'labels.csv') as a, \
            open(osp.join(sim_data_dir, 'labels.csv')) as b:
        assert a.read().splitlines() == b.read().splitlines()[:3]
    # another seed gives other images
    other, _, _ = simulate_one(0, 1, SIZE)
    assert not np.array_equal(other, _read(str(out / 'images/000000.png')))
    assert _tmp_files(out) == []

    # an existing set with other settings is refused ...
    res = run_tool([CLI, '--out', str(out), '--num', '1', '--seed', '1',
                    '--size', str(SIZE), '--quiet'])
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert 'seed' in res.stderr and 'Traceback' not in res.stderr
    # ... unless --overwrite
    res = run_tool([CLI, '--out', str(out), '--num', '1', '--seed', '1',
                    '--size', str(SIZE), '--quiet', '--overwrite'])
    assert res.returncode == 0, res.stderr
    assert os.listdir(out / 'images') == ['000000.png']
    assert np.array_equal(_read(str(out / 'images/000000.png')), other)
    with open(out / 'meta.json') as f:
        assert json.load(f)['settings']['seed'] == 1


def test_cli_rejects_bad_input(tmp_path, run_tool):
    res = run_tool([CLI, '--out', str(tmp_path / 'x'), '--num', '0'])
    assert res.returncode == 2
    assert res.stderr.strip().count('\n') == 0 and '--num' in res.stderr
    assert 'Traceback' not in res.stderr
    assert not (tmp_path / 'x').exists()
    blocker = tmp_path / 'file'
    blocker.write_text('not a directory')
    res = run_tool([CLI, '--out', str(blocker / 'sub'), '--num', '1',
                    '--size', str(SIZE)])
    assert res.returncode == 2
    assert res.stderr.strip().count('\n') == 0
    assert 'cannot write' in res.stderr and 'Traceback' not in res.stderr
    with pytest.raises(SimulationError):
        simulate_dataset(str(tmp_path / 'y'), num=-1, progress=False)


def test_resume_interrupted_run(sim_data_dir, tmp_path):
    out = tmp_path / 'resume'
    shutil.copytree(sim_data_dir, out)
    meta = json.loads((out / 'meta.json').read_text())
    num = meta['num']
    before = {p: (out / p).stat().st_mtime_ns
              for p in ('images/000000.png', 'masks/000002.png')}
    # interruption: one image lost, one mask lost, a stray half-written
    # temp file, labels.csv not written yet
    os.remove(out / 'images/000001.png')
    os.remove(out / 'masks/000003.png')
    (out / 'images/.000001.png.x1y2.tmp').write_bytes(b'\x89PNG half')
    os.remove(out / 'labels.csv')

    summary = simulate_dataset(str(out), num, seed=0, size=SIZE,
                               progress=False)
    assert summary['generated'] == 2 and summary['skipped'] == num - 2
    assert _tmp_files(out) == []
    for path, mtime in before.items():  # finished images not redone
        assert (out / path).stat().st_mtime_ns == mtime
    for sub in ('images', 'masks'):
        for name in os.listdir(osp.join(sim_data_dir, sub)):
            assert (out / sub / name).read_bytes() == \
                open(osp.join(sim_data_dir, sub, name), 'rb').read()
    assert (out / 'labels.csv').read_text() == open(
        osp.join(sim_data_dir, 'labels.csv')).read()

    # same settings, nothing to do; a larger num extends the set
    summary = simulate_dataset(str(out), num + 1, seed=0, size=SIZE,
                               progress=False)
    assert summary['generated'] == 1 and summary['skipped'] == num
    with open(out / 'labels.csv') as f:
        assert len(list(csv.DictReader(f))) == num + 1


def test_simulator_writes_through_the_package_atomic_writer():
    """One atomic writer (anaus_mm.utils.io, torch-free) for the package."""
    from anaus_mm.datasets.simulation import writer
    from anaus_mm.utils import io
    assert writer.atomic_write_text is io.atomic_write_text
    assert writer.atomic_write_image is io.atomic_write_image
    assert not [n for n in vars(writer) if 'atomic' in n and
                not n.startswith('atomic_write_')]
