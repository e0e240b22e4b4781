"""Difficulty options of the simulator (``--preset hard`` and its knobs).

Phantom-level checks (the scene's amplitude on a dense raster; no RF
simulation, deterministic) test what each option promises; a few 128 px
simulations (~1 s each) check that it reaches the image.
"""
import csv
import json
import os.path as osp

import numpy as np
import pytest

from anaus_mm.datasets.simulation import (ANATOMY_CLASSES, SimulationError,
                                          make_geometry, simulate_case,
                                          simulate_dataset)
from anaus_mm.datasets.simulation.difficulty import (PRESETS, SimOptions,
                                                     draw_imaging,
                                                     resolve_options)
from anaus_mm.datasets.simulation.imaging import (DYNAMIC_RANGE_DB,
                                                  make_anatomy)
from anaus_mm.datasets.simulation.writer import (DIFFICULTY_COLUMNS,
                                                 LABEL_COLUMNS)

SIZE = 128
CLI = 'tools/dataset_converters/simulate_us.py'
ID = {name: i for i, name in enumerate(ANATOMY_CLASSES)}
# only the option under test, nothing else of the hard preset
QUIET = dict(gain_db=0.0, tgc_db=0.0, dynamic_range_db=50.0,
             speckle_scale=1.0, shadow_prob=0.0, reverb_prob=0.0,
             tissue_contrast=1.0, fat_density=1.0)


def _raster(anatomy, n=500):
    """Beam-coordinate raster: (u, d, x, z, labels, amplitude)."""
    g = anatomy.geometry
    uu, dd = np.meshgrid(np.linspace(*g.lateral_range, n),
                         np.linspace(0, g.depth, n))
    x, z = g.from_beam(uu, dd)
    lab = anatomy.labels(x.ravel(), z.ravel()).reshape(x.shape)
    amp = anatomy.amplitude(x.ravel(), z.ravel()).reshape(x.shape)
    return uu, dd, x, z, lab, amp


def _lesion_and_ring(anatomy, x, z, lab):
    """Lesion points and the parenchyma within 4 mm of its contour."""
    les = anatomy.lesion
    rho = np.hypot(x - les.centre[0], z - les.centre[1])
    r = les.radius(np.arctan2(z - les.centre[1], x - les.centre[0]))
    inside = lab == ID['lesion']
    ring = (lab == ID['parenchyma']) & (rho < r + 4e-3)
    return inside, ring


# ----------------------------------------------------------------- options
def test_presets_and_validation():
    assert resolve_options(None).is_default
    assert resolve_options('default').is_default
    assert resolve_options(dict(preset='default')).is_default
    hard = resolve_options('hard')
    assert not hard.is_default and hard.preset == 'hard'
    assert hard.to_dict()['lesion_echo'] == PRESETS['hard']['lesion_echo']
    # knobs override the preset; a dict round-trips
    opts = resolve_options('hard', gain_db=2.0, lesion_echo={'iso': 1})
    assert opts.gain_db == 2.0 and opts.lesion_echo == {'iso': 1.0}
    assert resolve_options(opts.to_dict()).to_dict() == opts.to_dict()
    assert resolve_options(SimOptions()).is_default
    for bad in (dict(preset='harder'), dict(gain=3), dict(gain_db=-1),
                dict(lesion_echo={'cyst': 1}), dict(lesion_echo={'iso': 0}),
                dict(dynamic_range_db=(60, 40)), dict(speckle_scale=0.5),
                dict(shadow_prob=1.5), dict(fat_density=0)):
        with pytest.raises(SimulationError):
            resolve_options(bad)


def test_default_options_are_the_original_simulator():
    plain = simulate_case(3, 0, SIZE)
    for options in ('default', dict(preset='default'), SimOptions()):
        other = simulate_case(3, 0, SIZE, options=options)
        assert np.array_equal(plain.image, other.image)
        assert np.array_equal(plain.mask, other.mask)
        assert plain.labels == other.labels
    # options draw from their own streams: same anatomy, same mask
    hard = simulate_case(3, 0, SIZE, options='hard')
    assert np.array_equal(plain.mask, hard.mask)
    assert not np.array_equal(plain.image, hard.image)


# ----------------------------------------------------------- lesion echo
@pytest.mark.parametrize('index', [0, 1, 2, 5])
def test_isoechoic_lesion_differs_in_texture_not_brightness(index):
    """Mean intensity within 5 % of the parenchyma around it (mean echo
    level in dB within 2 dB), a heterogeneity 1.3x as strong; the default
    lesion is > 8 dB darker on the same raster."""
    iso = make_anatomy(index, 4, SIZE, options=dict(
        preset='hard', lesion_echo={'iso': 1}, **QUIET))
    # the lesion's own surroundings only: no rim, no posterior effects
    iso.halo = False
    iso.posterior[:] = 0
    uu, dd, x, z, lab, amp = _raster(iso)
    inside, ring = _lesion_and_ring(iso, x, z, lab)
    assert inside.sum() > 200 and ring.sum() > 200
    db = 20 * np.log10(np.maximum(amp, 1e-12))
    ratio = (amp[inside] ** 2).mean() / (amp[ring] ** 2).mean()
    assert 0.95 < ratio < 1.05, ratio
    assert abs(db[inside].mean() - db[ring].mean()) < 2.0
    assert db[inside].std() > 1.3 * db[ring].std()
    hypo = make_anatomy(index, 4, SIZE)
    hypo.halo = False
    hypo.posterior[:] = 0
    amp0 = _raster(hypo)[5]
    db0 = 20 * np.log10(np.maximum(amp0, 1e-12))
    assert db0[inside].mean() - db0[ring].mean() < -8


def test_isoechoic_lesion_in_the_image():
    """In the B-mode images, the mean gray of the lesions' interiors is
    within 12 % of the parenchyma beside them (pixels pooled over 6 images:
    a single small lesion at 128 px scatters by ~15 %), where hypoechoic
    lesions are > 25 % darker."""
    from scipy import ndimage

    def gray_ratio(options, indices):
        sums = np.zeros(4)
        for index in indices:
            case = simulate_case(index, 4, SIZE, options=options)
            les = case.mask == ID['lesion']
            core = ndimage.binary_erosion(les, iterations=1)
            near = ndimage.binary_dilation(les, iterations=10) & \
                ~ndimage.binary_dilation(les, iterations=4)
            ring = near & (case.mask == ID['parenchyma']) & \
                les.any(1)[:, None]
            img = case.image.astype(float)
            sums += (img[core].sum(), core.sum(), img[ring].sum(), ring.sum())
        return (sums[0] / sums[1]) / (sums[2] / sums[3])

    iso = dict(preset='hard', lesion_echo={'iso': 1}, **QUIET)
    assert 0.88 < gray_ratio(iso, range(6)) < 1.12
    assert gray_ratio(None, range(2)) < 0.75


def test_mixed_lesion_has_cystic_parts():
    ana = make_anatomy(2, 4, SIZE, options=dict(
        preset='hard', lesion_echo={'mixed': 1}, **QUIET))
    uu, dd, x, z, lab, amp = _raster(ana)
    inside = lab == ID['lesion']
    db = 20 * np.log10(np.maximum(amp[inside], 1e-12))
    cystic = (db < -15).mean()
    assert abs(cystic - ana.extra['cyst_frac']) < 0.08
    assert ana.describe()['echo_pattern'] == 'mixed'


# --------------------------------------------------- tissues and artefacts
def test_tissue_contrast_keeps_texture():
    """tissue_contrast=0: muscle and fat at parenchyma's mean dB, their
    striations / septa still there."""
    opts = dict(preset='default', tissue_contrast=0.0)
    ana = make_anatomy(0, 4, SIZE, options=opts)
    base = make_anatomy(0, 4, SIZE)
    _, _, _, _, lab, amp = _raster(ana)
    amp0 = _raster(base)[5]
    db = 20 * np.log10(np.maximum(amp, 1e-12))
    db0 = 20 * np.log10(np.maximum(amp0, 1e-12))
    mus, par = lab == ID['muscle'], lab == ID['parenchyma']
    assert db0[mus].mean() - db0[par].mean() < -2.5
    assert abs(db[mus].mean() - db[par].mean()) < 1.0
    assert db[mus].std() > 1.5 * db[par].std()  # the striations


def test_shadows_and_reverberation_cross_anatomy():
    opts = dict(preset='default', shadow_prob=1.0, reverb_prob=1.0)
    found_shadow = found_reverb = False
    for index in range(4):
        ana = make_anatomy(index, 4, SIZE, options=opts)
        uu, dd, x, z, lab, amp = _raster(ana)
        shadow = ana._posterior_gain_db(uu, dd) < -8
        shadow &= lab > 0
        if ana.extra['shadows'] and len(np.unique(lab[shadow])) >= 2:
            found_shadow = True
        if ana.extra['reverb'] is not None:
            rev = ana._reverberation(uu, dd) > 0.3
            rev &= lab > 0
            found_reverb |= len(np.unique(lab[rev])) >= 2
    assert found_shadow and found_reverb
    assert ana.describe()['artefact_shadows'] >= 1


# ------------------------------------------------------ per-image imaging
def test_per_image_gain_varies_and_reaches_the_image():
    """Same scene and scatterers: the hard-gain image is the default image
    shifted by gain_db (+ TGC error) * 255 / 50 gray levels."""
    opts = resolve_options('default', gain_db=6.0)
    gains = [draw_imaging(np.random.default_rng(i), opts).gain_db
             for i in range(20)]
    assert np.std(gains) > 2.0 and max(np.abs(gains)) <= 6.0
    seen = []
    for index in (0, 1, 2):
        base = simulate_case(index, 4, SIZE)
        case = simulate_case(index, 4, SIZE, options=opts)
        gain = case.labels['gain_db']
        seen.append(gain)
        ok = (base.mask > 0) & (base.image > 5) & (base.image < 250) & \
            (case.image > 5) & (case.image < 250)
        shift = np.median(case.image[ok].astype(float) - base.image[ok])
        assert shift == pytest.approx(gain * 255 / DYNAMIC_RANGE_DB,
                                      abs=1.0), (index, gain)
    assert np.ptp(seen) > 1.0


def test_speckle_scale_enlarges_the_grain():
    """speckle_scale=1.8: the envelope decorrelates more slowly along both
    axes (1 - correlation at lag 2 falls to ~0.5 of the original; ~0.31
    for an ideal Gaussian grain 1.8x wider)."""
    def decorrelation(envelope, axis):
        e = envelope[40:-20].astype(float)
        e = np.moveaxis(e - e.mean(), axis, 0)
        return 1 - float(np.sum(e[2:] * e[:-2]) / np.sum(e * e))

    base = simulate_case(0, 4, SIZE, homogeneous=True)
    big = simulate_case(0, 4, SIZE, homogeneous=True,
                        options=dict(speckle_scale=1.8))
    for axis in (0, 1):
        assert decorrelation(big.envelope, axis) < \
            0.65 * decorrelation(base.envelope, axis)
    # mean intensity kept (depth rows re-normalised)
    ratio = (big.envelope[40:-20].astype(float) ** 2).mean() / \
        (base.envelope[40:-20].astype(float) ** 2).mean()
    assert 0.85 < ratio < 1.15


# ------------------------------------------------------------ datasets
def test_hard_set_meta_labels_and_refusal(tmp_path, run_tool):
    out = tmp_path / 'hard'
    summary = simulate_dataset(str(out), 2, seed=3, size=SIZE,
                               progress=False, difficulty='hard')
    assert summary['generated'] == 2
    meta = json.loads((out / 'meta.json').read_text())
    assert meta['settings']['difficulty']['preset'] == 'hard'
    assert meta['difficulty'] == resolve_options('hard').to_dict()
    with open(out / 'labels.csv') as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == LABEL_COLUMNS + DIFFICULTY_COLUMNS
    assert all(r['echo_pattern'] in ('hypo', 'iso', 'mixed') for r in rows)
    before = (out / 'labels.csv').read_text()
    # same options: nothing to do, labels recomputed identically
    summary = simulate_dataset(str(out), 2, seed=3, size=SIZE,
                               progress=False, difficulty='hard')
    assert summary['generated'] == 0
    assert (out / 'labels.csv').read_text() == before
    # other options (or none) in the same folder are refused
    with pytest.raises(SimulationError, match='difficulty'):
        simulate_dataset(str(out), 2, seed=3, size=SIZE, progress=False)
    with pytest.raises(SimulationError, match='difficulty'):
        simulate_dataset(str(out), 2, seed=3, size=SIZE, progress=False,
                         difficulty=dict(preset='hard', gain_db=1.0))
    res = run_tool([CLI, '--out', str(out), '--num', '2', '--seed', '3',
                    '--size', str(SIZE), '--quiet', '--preset', 'hard',
                    '--gain-db', '2'])
    assert res.returncode == 2 and 'difficulty' in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = run_tool([CLI, '--out', str(tmp_path / 'x'), '--num', '1',
                    '--size', str(SIZE), '--preset', 'hard',
                    '--lesion-echo', 'cyst=1'])
    assert res.returncode == 2 and 'cyst' in res.stderr
    assert 'Traceback' not in res.stderr
    assert not osp.exists(tmp_path / 'x' / 'images' / '000000.png')


def test_geometry_is_shared():
    """The options never move the anatomy: the hard mask is the mask."""
    g = make_geometry('convex', SIZE)
    a = make_anatomy(7, 4, SIZE)
    b = make_anatomy(7, 4, SIZE, options='hard')
    x, z = g.pixel_coordinates()
    assert np.array_equal(a.labels(x, z), b.labels(x, z))
