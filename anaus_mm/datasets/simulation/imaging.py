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

import cv2
import numpy as np
import pymust
from pymust import utils as must_utils

from scipy import ndimage

from .geometry import make_geometry
from .phantom import Anatomy, sample_scatterers

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
    geometry: object


def image_seed(seed, index):
    """Seed of image ``index`` of a set generated with ``seed``.

    Depends only on ``(seed, index)``, so results do not depend on the
    number of workers or on the order in which images are produced.
    """
    ss = np.random.SeedSequence([int(seed), int(index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


def _rngs(seed, index):
    """Independent generators for the anatomy, scatterers and noise."""
    root = np.random.SeedSequence(image_seed(seed, index))
    return tuple(np.random.default_rng(c) for c in root.spawn(3))


def is_malignant(index):
    """Lesion class of image ``index``: classes alternate by parity."""
    return bool(int(index) % 2)


def make_anatomy(index, seed, size=256, probe='convex', homogeneous=False):
    """Build the random scene of image ``index`` (cheap, no simulation)."""
    geometry = make_geometry(probe, size)
    rng_anatomy = _rngs(seed, index)[0]
    return Anatomy(geometry, rng_anatomy, is_malignant(index), homogeneous)


def describe_case(index, seed, size=256, probe='convex'):
    """Labels of image ``index`` without simulating it (for resuming)."""
    labels = make_anatomy(index, seed, size, probe).describe()
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


def _rf_to_envelope(geometry, rf, noise_std, rng_noise):
    """Noise -> I/Q demodulation -> DAS on the polar grid -> envelope."""
    rf = rf + noise_std * rng_noise.standard_normal(rf.shape)
    iq = pymust.rf2iq(rf, geometry.pymust_param())
    das = _das_matrix(geometry.probe, geometry.size, rf.shape[0])
    ug, dg = geometry.polar_grid()
    bf = das @ iq.astype(np.complex64).flatten(order='F')
    return np.abs(bf).reshape((len(dg), len(ug)), order='F')


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


def beamform(geometry, x, z, rc, rng_noise):
    """Simulate RF data for scatterers and return the polar envelope.

    Args:
        geometry (ProbeGeometry): Imaging geometry.
        x, z, rc (numpy.ndarray): Scatterer positions (m) and reflection
            coefficients, float32 ``(1, N)``.
        rng_noise (numpy.random.Generator): Source of the electronic noise.

    Returns:
        numpy.ndarray: float32 linear envelope on ``geometry.polar_grid()``
        (rows: depth, columns: beams) after gain compensation; parenchyma
        has unit mean intensity.
    """
    gain, noise_std = _calibration(geometry.probe, geometry.size)
    rf = _run_simus(geometry, x, z, rc)
    envelope = _rf_to_envelope(geometry, rf, noise_std, rng_noise)
    return (envelope * gain).astype(np.float32)


def log_compress(envelope, reference):
    """Envelope -> dB image scaled so that ``reference`` is MEDIAN_GRAY."""
    db = 20 * np.log10(np.maximum(envelope, 1e-12) / reference)
    low = -MEDIAN_GRAY / 255 * DYNAMIC_RANGE_DB
    return (db - low) / DYNAMIC_RANGE_DB * 255.0


def scan_convert(polar, geometry):
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


def simulate_case(index, seed, size=256, probe='convex', homogeneous=False):
    """Simulate image ``index`` of a set (full result, see the dataclass).

    Args:
        index (int): Image index.
        seed (int): Set seed; the image seed is derived from
            ``(seed, index)``.
        size (int): Output side in pixels.
        probe (str): ``'convex'`` or ``'linear'``.
        homogeneous (bool): Simulate a homogeneous speckle phantom instead
            of the anatomy (for speckle-statistics checks).

    Returns:
        SimulationResult: Image, mask, labels, polar envelope and labels.
    """
    geometry = make_geometry(probe, size)
    rng_anatomy, rng_scat, rng_noise = _rngs(seed, index)
    anatomy = Anatomy(geometry, rng_anatomy, is_malignant(index), homogeneous)
    x, z, rc = sample_scatterers(geometry, anatomy, rng_scat,
                                 SCATTERER_DENSITY)
    envelope = beamform(geometry, x, z, rc, rng_noise)

    ug, dg = geometry.polar_grid()
    uu, dd = np.meshgrid(ug, dg)
    polar_labels = anatomy.labels(*geometry.from_beam(uu, dd))
    polar_img = log_compress(envelope, SPECKLE_MEDIAN)
    image = np.clip(np.rint(scan_convert(polar_img, geometry)), 0, 255)
    image = image.astype(np.uint8)
    mask = anatomy.labels(*geometry.pixel_coordinates())

    labels = anatomy.describe()
    labels['seed'] = image_seed(seed, index)
    return SimulationResult(image, mask, labels, envelope, polar_labels,
                            geometry)


def simulate_one(index, seed, size=256, probe='convex'):
    """Simulate one image and its anatomy mask.

    Args:
        index (int): Image index within the set.
        seed (int): Set seed.
        size (int): Output side in pixels.
        probe (str): ``'convex'`` (sector) or ``'linear'`` (rectangle).

    Returns:
        tuple: ``(image, mask, labels)`` -- uint8 ``(size, size)`` B-mode
        image, uint8 anatomy ids (see ``ANATOMY_CLASSES``) and a dict of
        lesion attributes (``label``, ``label_id``, ``shape``, ...).
    """
    result = simulate_case(index, seed, size, probe)
    return result.image, result.mask, result.labels
