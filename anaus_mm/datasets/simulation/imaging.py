"""The pymust imaging chain: RF simulation -> B-mode image + mask.

``simus`` (one unfocused transmit: diverging wave for the convex array,
plane wave for the linear one) -> additive electronic noise -> ``rf2iq``
(I/Q demodulation) -> delay-and-sum beamforming with a ``dasmtx`` matrix
(plus a Hann receive apodization) on a polar grid -> envelope -> time (and
lateral) gain compensation calibrated on a homogeneous phantom -> log
compression -> scan conversion to a square Cartesian image.
"""
from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, Tuple, Union

import cv2
import numpy as np
import pymust
from pymust import utils as must_utils

from scipy import ndimage

from .difficulty import (ImagingDraw, SimOptions, draw_imaging,
                         resolve_options)
from .geometry import ProbeGeometry, make_geometry
from .phantom import Anatomy, sample_scatterers

#: Difficulty options as the entry points take them: None / ``'default'``
#: (the original simulator), a preset name, a dict or :class:`SimOptions`.
Options = Union[None, str, dict, SimOptions]

#: Scatterers per squared wavelength. With the 2-D resolution cell of this
#: setup (axial ~0.35 lambda.. lateral >= 1 lambda at F#1) this gives more
#: than 10 scatterers per cell below a few mm, i.e. fully developed speckle.
SCATTERER_DENSITY = 5.5
#: Displayed dynamic range (dB) and position of the speckle median in it.
DYNAMIC_RANGE_DB = 50.0
MEDIAN_GRAY = 110.0
#: Electronic noise, relative to the RMS of the early (shallow) echoes.
NOISE_DB = -45.0
#: Frequency components of the pulse below this level are not simulated.
SIMUS_DB_THRESHOLD = -30.0
#: Seed of the homogeneous calibration phantom (gain map, noise level).
CALIBRATION_SEED = 20240601
#: Median of a Rayleigh envelope of unit mean intensity: the gray level
#: MEDIAN_GRAY is given to parenchyma.
SPECKLE_MEDIAN = float(np.sqrt(np.log(2.0)))


@dataclass
class SimulationResult:
    """Everything :func:`simulate_case` produces for one image.

    Attributes:
        image: uint8 ``(size, size)`` B-mode image (0 outside the sector).
        mask: uint8 ``(size, size)`` anatomy ids (0 outside the sector).
        labels: Lesion class and attributes (see ``Anatomy.describe``).
        envelope: float32 linear envelope on the polar beamforming grid
            (after TGC, before log compression); rows = depth, cols = beams.
        polar_labels: uint8 anatomy ids on the same polar grid.
        geometry: The :class:`ProbeGeometry` used.
    """

    image: np.ndarray
    mask: np.ndarray
    labels: dict
    envelope: np.ndarray
    polar_labels: np.ndarray
    geometry: ProbeGeometry


def image_seed(seed: int, index: int) -> int:
    """Seed of image ``index`` of a set generated with ``seed``.

    Depends only on ``(seed, index)``, so results do not depend on the
    number of workers or on the order in which images are produced.

    Args:
        seed (int): Set seed.
        index (int): Image index.

    Returns:
        int: A uint32 seed (``SeedSequence([seed, index])``).
    """
    ss = np.random.SeedSequence([int(seed), int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _rngs(seed, index, n=3):
    """Independent generators of an image: anatomy, scatterers, noise and,
    with ``n=5``, the difficulty extras (anatomy extras + scatterer
    thinning, imaging settings). The first three do not depend on ``n``
    (``SeedSequence.spawn`` children are numbered)."""
    root = np.random.SeedSequence(image_seed(seed, index))
    return tuple(np.random.default_rng(c) for c in root.spawn(n))


def _options(options):
    """Resolved options, or None for the original simulator."""
    opts = resolve_options(options) if not isinstance(
        options, SimOptions) else options
    return None if opts.is_default else opts


def is_malignant(index: int) -> bool:
    """Lesion class of image ``index``: classes alternate by parity.

    Args:
        index (int): Image index.

    Returns:
        bool: True for odd indices (malignant), False for even (benign).
    """
    return bool(int(index) % 2)


def make_anatomy(index: int, seed: int, size: int = 256,
                 probe: str = 'convex', homogeneous: bool = False,
                 options: Options = None) -> Anatomy:
    """Build the random scene of image ``index`` (cheap, no simulation).

    Args:
        index (int): Image index.
        seed (int): Set seed.
        size (int): Output side in pixels.
        probe (str): ``'convex'`` or ``'linear'``.
        homogeneous (bool): Homogeneous speckle phantom.
        options (str | dict | SimOptions, optional): Difficulty options
            (see :func:`~.difficulty.resolve_options`); None: the original
            simulator.

    Returns:
        Anatomy: The scene.
    """
    geometry = make_geometry(probe, size)
    opts = _options(options)
    rngs = _rngs(seed, index, 3 if opts is None else 5)
    return Anatomy(geometry, rngs[0], is_malignant(index), homogeneous,
                   options=opts, rng_extra=None if opts is None else rngs[3])


def _imaging_draw(index, seed, opts):
    """The per-image imaging settings (defaults without options)."""
    if opts is None:
        return ImagingDraw()
    return draw_imaging(_rngs(seed, index, 5)[4], opts)


def describe_case(index: int, seed: int, size: int = 256,
                  probe: str = 'convex',
                  options: Options = None) -> Dict[str, object]:
    """Labels of image ``index`` without simulating it (for resuming).

    Args:
        index (int): Image index.
        seed (int): Set seed.
        size (int): Output side in pixels.
        probe (str): ``'convex'`` or ``'linear'``.
        options (str | dict | SimOptions, optional): Difficulty options
            (see :func:`simulate_case`).

    Returns:
        dict: The ``labels`` of :func:`simulate_case` (lesion class and
        attributes, imaging settings with options, ``seed``).
    """
    opts = _options(options)
    labels = make_anatomy(index, seed, size, probe, options=opts).describe()
    if opts is not None:
        labels.update(_imaging_draw(index, seed, opts).describe())
    labels['seed'] = image_seed(seed, index)
    return labels


@lru_cache(maxsize=4)
def _das_matrix(probe, size, n_samples):
    """Cached sparse DAS matrix (I/Q input) for a geometry, CSR complex64."""
    geometry = make_geometry(probe, size)
    ug, dg = geometry.polar_grid()
    uu, dd = np.meshgrid(ug, dg)
    x, z = geometry.from_beam(uu, dd)
    delays = np.zeros((1, geometry.nelements))
    param = geometry.pymust_param()
    with np.errstate(invalid='ignore', divide='ignore'):  # d = 0 row
        matrix = pymust.dasmtx(
            1j * np.array([n_samples, geometry.nelements]), x, z, delays,
            param).tocoo()
    # Receive apodization: dasmtx uses a flat aperture (f-number mask); a
    # Hann taper over that aperture lowers the side lobes, which is what
    # makes the vessel anechoic and the shadows dark.
    xe, ze, the, _ = geometry.element_positions()
    elem = matrix.col // n_samples
    px = x.ravel(order='F')[matrix.row]
    pz = z.ravel(order='F')[matrix.row]
    dx, dz = px - xe[elem], pz - ze[elem]
    half = np.arctan(1 / 2 / param.fnumber)
    if geometry.is_convex:
        with np.errstate(invalid='ignore', divide='ignore'):
            rel = np.abs(np.arcsin(dx / np.hypot(dx, dz)) - the[elem]) / half
    else:
        rel = np.abs(dx) / np.maximum(pz / 2 / param.fnumber, 1e-9)
    weight = np.cos(0.5 * np.pi * np.clip(np.nan_to_num(rel), 0, 1)) ** 2
    matrix.data = matrix.data * weight
    return matrix.tocsr().astype(np.complex64)


def _n_samples(geometry):
    """Fixed RF length (samples) covering the deepest round trip."""
    xe, ze, _, _ = geometry.element_positions()
    ug, dg = geometry.polar_grid()
    uu, dd = np.meshgrid(ug[[0, -1]], dg[[-1]])
    x, z = geometry.from_beam(uu, dd)
    far = np.max(np.hypot(x.reshape(-1, 1) - xe, z.reshape(-1, 1) - ze))
    return int(np.ceil(2 * far / geometry.c * geometry.fs)) + 32


def _run_simus(geometry, x, z, rc):
    """``pymust.simus`` for one unfocused transmit, fixed RF length."""
    options = must_utils.Options()
    options.dBThresh = SIMUS_DB_THRESHOLD
    options.WaitBar = False
    options.ParPool = False
    rf, _ = pymust.simus(x, z, rc, np.zeros((1, geometry.nelements)),
                         geometry.pymust_param(), options)
    n_samples = _n_samples(geometry)
    rf = np.asarray(rf, dtype=np.float64)[:n_samples]
    if rf.shape[0] < n_samples:
        rf = np.pad(rf, ((0, n_samples - rf.shape[0]), (0, 0)))
    return rf


def _rf_to_envelope(geometry, rf, noise_std, rng_noise, speckle_scale=1.0):
    """Noise -> I/Q demodulation -> DAS on the polar grid -> envelope
    (``speckle_scale > 1``: the beamformed I/Q data low-pass filtered first,
    see :func:`enlarge_speckle`)."""
    rf = rf + noise_std * rng_noise.standard_normal(rf.shape)
    iq = pymust.rf2iq(rf, geometry.pymust_param())
    das = _das_matrix(geometry.probe, geometry.size, rf.shape[0])
    ug, dg = geometry.polar_grid()
    bf = das @ iq.astype(np.complex64).flatten(order='F')
    if speckle_scale != 1.0:
        bf = enlarge_speckle(bf.reshape((len(dg), len(ug)), order='F'),
                             speckle_scale, geometry)
        return np.abs(bf)
    return np.abs(bf).reshape((len(dg), len(ug)), order='F')


def _grain(field, axis):
    """Std (samples) of a Gaussian point spread along ``axis`` from the
    lag-1 correlation of complex data: ``|rho(1)| = exp(-1 / (4 w^2))``."""
    a = np.moveaxis(field, axis, 0)
    num = np.abs(np.sum(a[1:] * np.conj(a[:-1])))
    den = np.sum(np.abs(a) ** 2) + 1e-30
    rho = float(np.clip(num / den, 1e-6, 1 - 1e-6))
    return float(np.sqrt(-1.0 / (4.0 * np.log(rho))))


def _derotate(bf, geometry):
    """Remove the slowly varying phase ramps of beamformed I/Q data.

    Demodulated echoes keep a phase that advances steadily along depth
    (the centre frequency drifts with attenuation) and across beams; a
    low-pass filter would average those ramps to zero (dark, streaky
    images). The mean phase increment between neighbouring rows (and
    between neighbouring beams, per row), smoothed over 3 mm of depth, is
    removed first; the envelope does not change.
    """
    _, dg = geometry.polar_grid()
    rows = 3e-3 / (dg[1] - dg[0])

    def smooth(c):
        return ndimage.gaussian_filter1d(c.real, rows, mode='nearest') + \
            1j * ndimage.gaussian_filter1d(c.imag, rows, mode='nearest')

    axial = smooth(np.sum(bf[1:] * np.conj(bf[:-1]), axis=1))
    phase = np.concatenate([[0.0], np.cumsum(np.angle(axial))])
    bf = bf * np.exp(-1j * phase)[:, None]
    lateral = smooth(np.sum(bf[:, 1:] * np.conj(bf[:, :-1]), axis=1))
    ramp = np.angle(lateral)[:, None] * np.arange(bf.shape[1])[None, :]
    return bf * np.exp(-1j * ramp)


def enlarge_speckle(bf: np.ndarray, scale: float,
                    geometry: ProbeGeometry) -> np.ndarray:
    """Grow the speckle grain of beamformed I/Q data by ``scale``.

    The complex image, with its phase ramps removed (:func:`_derotate`),
    is filtered with a Gaussian whose width (per axis)
    turns the measured grain ``w`` (:func:`_grain`) into ``scale * w``
    (``sigma = w * sqrt(scale^2 - 1)``); the filtered field is again
    circular Gaussian, so the speckle stays fully developed. The mean
    intensity of every depth row (smoothed over 3 mm) is restored, so the
    gain calibration and tissue contrasts hold.

    Args:
        bf (numpy.ndarray): Complex ``(n_d, n_u)`` beamformed data.
        scale (float): Grain size factor (>= 1).
        geometry (ProbeGeometry): Imaging geometry.

    Returns:
        numpy.ndarray: Filtered complex data, same shape.
    """
    if scale <= 1.0:
        return bf
    bf = _derotate(bf.astype(np.complex128), geometry)
    sigmas = [_grain(bf, axis) * np.sqrt(scale ** 2 - 1) for axis in (0, 1)]
    out = ndimage.gaussian_filter(bf.real, sigmas, mode='nearest') + 1j * \
        ndimage.gaussian_filter(bf.imag, sigmas, mode='nearest')
    _, dg = geometry.polar_grid()
    rows = 3e-3 / (dg[1] - dg[0])
    before = ndimage.gaussian_filter1d(np.mean(np.abs(bf) ** 2, 1), rows,
                                       mode='nearest')
    after = ndimage.gaussian_filter1d(np.mean(np.abs(out) ** 2, 1), rows,
                                      mode='nearest')
    ratio = np.sqrt(before / np.maximum(after, before.max() * 1e-12 + 1e-30))
    return (out * ratio[:, None]).astype(np.complex64)


@lru_cache(maxsize=4)
def _calibration(probe, size):
    """Time (and lateral) gain compensation from a homogeneous phantom.

    A phantom of unit-amplitude scatterers is simulated once per process
    and geometry with a fixed seed. Its smoothed mean intensity over the
    polar grid gives the gain map -- what a sonographer sets with the TGC
    sliders -- that brings parenchyma (amplitude 1) to unit mean intensity
    at every depth, so tissue contrasts in the image are the ones of the
    phantom. The electronic noise is set relative to the shallow RF level
    of that phantom, so it is the same for every image.

    Returns:
        tuple: ``(gain, noise_std)`` -- float32 gain map on the polar grid
        and the RF noise standard deviation.
    """
    geometry = make_geometry(probe, size)
    root = np.random.SeedSequence(CALIBRATION_SEED)
    rng_a, rng_s, rng_n = (np.random.default_rng(c) for c in root.spawn(3))
    anatomy = Anatomy(geometry, rng_a, False, homogeneous=True)
    x, z, rc = sample_scatterers(geometry, anatomy, rng_s,
                                 SCATTERER_DENSITY)
    rf = _run_simus(geometry, x, z, rc)
    early = rf[: rf.shape[0] // 4]
    noise_std = float(np.sqrt(np.mean(early ** 2)) * 10 ** (NOISE_DB / 20))
    intensity = _rf_to_envelope(geometry, rf, noise_std, rng_n) ** 2
    ug, dg = geometry.polar_grid()
    sigma_d = 2e-3 / (dg[1] - dg[0])
    sigma_u = 4e-3 / geometry.lateral_metres(ug[1] - ug[0],
                                             geometry.depth / 2)
    smooth = ndimage.gaussian_filter(intensity, (sigma_d, sigma_u),
                                     mode='nearest')
    gain = 1.0 / np.sqrt(np.maximum(smooth, smooth.max() * 1e-8))
    return gain.astype(np.float32), noise_std


def beamform(geometry: ProbeGeometry, x: np.ndarray, z: np.ndarray,
             rc: np.ndarray, rng_noise: np.random.Generator,
             speckle_scale: float = 1.0) -> np.ndarray:
    """Simulate RF data for scatterers and return the polar envelope.

    Args:
        geometry (ProbeGeometry): Imaging geometry.
        x (numpy.ndarray): Scatterer lateral positions (m), float32
            ``(1, N)``.
        z (numpy.ndarray): Scatterer axial positions (m), same shape.
        rc (numpy.ndarray): Reflection coefficients, same shape.
        rng_noise (numpy.random.Generator): Source of the electronic noise.
        speckle_scale (float): Speckle grain factor (1: as simulated).

    Returns:
        numpy.ndarray: float32 linear envelope on ``geometry.polar_grid()``
        (rows: depth, columns: beams) after gain compensation; parenchyma
        has unit mean intensity.
    """
    gain, noise_std = _calibration(geometry.probe, geometry.size)
    rf = _run_simus(geometry, x, z, rc)
    envelope = _rf_to_envelope(geometry, rf, noise_std, rng_noise,
                               speckle_scale)
    return (envelope * gain).astype(np.float32)


def log_compress(envelope: np.ndarray, reference: float,
                 dynamic_range_db: float = DYNAMIC_RANGE_DB) -> np.ndarray:
    """Envelope -> dB image scaled so that ``reference`` is MEDIAN_GRAY,
    displaying ``dynamic_range_db`` dB over the 256 gray levels.

    Args:
        envelope (numpy.ndarray): Linear envelope.
        reference (float): Envelope value shown at gray level
            :data:`MEDIAN_GRAY`.
        dynamic_range_db (float): Displayed dynamic range (dB).

    Returns:
        numpy.ndarray: Gray levels as floats, same shape (not clipped to
        0..255).
    """
    db = 20 * np.log10(np.maximum(envelope, 1e-12) / reference)
    low = -MEDIAN_GRAY / 255 * dynamic_range_db
    return (db - low) / dynamic_range_db * 255.0


def scan_convert(polar: np.ndarray, geometry: ProbeGeometry) -> np.ndarray:
    """Resample a polar-grid image onto the square Cartesian output grid.

    Args:
        polar (numpy.ndarray): Image on ``geometry.polar_grid()``.
        geometry (ProbeGeometry): Imaging geometry.

    Returns:
        numpy.ndarray: float32 ``(size, size)`` image, 0 outside the field
        of view (bilinear interpolation inside).
    """
    map_col, map_row, inside = geometry.scan_conversion_maps()
    out = cv2.remap(polar.astype(np.float32), map_col, map_row,
                    interpolation=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    out[~inside] = 0
    return out


def simulate_case(index: int, seed: int, size: int = 256,
                  probe: str = 'convex', homogeneous: bool = False,
                  options: Options = None) -> SimulationResult:
    """Simulate image ``index`` of a set (full result, see the dataclass).

    Args:
        index (int): Image index.
        seed (int): Set seed; the image seed is derived from
            ``(seed, index)``.
        size (int): Output side in pixels.
        probe (str): ``'convex'`` or ``'linear'``.
        homogeneous (bool): Simulate a homogeneous speckle phantom instead
            of the anatomy (for speckle-statistics checks).
        options (str | dict | SimOptions, optional): Difficulty options: a
            preset name (``'hard'``), a dict or
            :class:`~.difficulty.SimOptions`; None or ``'default'``: the
            original simulator, byte for byte.

    Returns:
        SimulationResult: Image, mask, labels, polar envelope and labels.
        With options, ``envelope`` includes the image's gain / TGC offsets
        and the labels its imaging settings.
    """
    geometry = make_geometry(probe, size)
    opts = _options(options)
    if opts is None:
        rng_anatomy, rng_scat, rng_noise = _rngs(seed, index)
        rng_extra = rng_imaging = None
    else:
        rng_anatomy, rng_scat, rng_noise, rng_extra, rng_imaging = \
            _rngs(seed, index, 5)
    anatomy = Anatomy(geometry, rng_anatomy, is_malignant(index), homogeneous,
                      options=opts, rng_extra=rng_extra)
    x, z, rc = sample_scatterers(geometry, anatomy, rng_scat,
                                 SCATTERER_DENSITY, rng_thin=rng_extra)
    draw = draw_imaging(rng_imaging, opts) if opts is not None \
        else ImagingDraw()
    envelope = beamform(geometry, x, z, rc, rng_noise, draw.speckle_scale)

    ug, dg = geometry.polar_grid()
    uu, dd = np.meshgrid(ug, dg)
    polar_labels = anatomy.labels(*geometry.from_beam(uu, dd))
    if opts is not None:
        profile = 10 ** (draw.gain_profile_db(len(dg)) / 20)
        envelope = (envelope * profile[:, None].astype(np.float32))
        polar_img = log_compress(envelope, SPECKLE_MEDIAN,
                                 draw.dynamic_range_db)
    else:
        polar_img = log_compress(envelope, SPECKLE_MEDIAN)
    image = np.clip(np.rint(scan_convert(polar_img, geometry)), 0, 255)
    image = image.astype(np.uint8)
    mask = anatomy.labels(*geometry.pixel_coordinates())

    labels = anatomy.describe()
    if opts is not None:
        labels.update(draw.describe())
    labels['seed'] = image_seed(seed, index)
    return SimulationResult(image, mask, labels, envelope, polar_labels,
                            geometry)


def simulate_one(
        index: int, seed: int, size: int = 256, probe: str = 'convex',
        options: Options = None
) -> Tuple[np.ndarray, np.ndarray, Dict[str, object]]:
    """Simulate one image and its anatomy mask.

    Args:
        index (int): Image index within the set.
        seed (int): Set seed.
        size (int): Output side in pixels.
        probe (str): ``'convex'`` (sector) or ``'linear'`` (rectangle).
        options (str | dict | SimOptions, optional): Difficulty options (see
            :func:`simulate_case`).

    Returns:
        tuple: ``(image, mask, labels)`` -- uint8 ``(size, size)`` B-mode
        image, uint8 anatomy ids (see ``ANATOMY_CLASSES``) and a dict of
        lesion attributes (``label``, ``label_id``, ``shape``, ...).
    """
    result = simulate_case(index, seed, size, probe, options=options)
    return result.image, result.mask, result.labels
