"""Probe geometry, beam coordinates and the scan-conversion grid.

Two coordinate systems are used throughout the simulator (all in metres):

* Cartesian ``(x, z)`` -- pymust's convention: ``x`` along the array,
  ``z`` pointing into the body. For a convex array ``z = 0`` is the chord of
  the array and the centre of curvature lies at ``(0, -h)``.
* Beam coordinates ``(u, d)`` -- ``u`` is the lateral beam coordinate
  (steering angle in radians for a convex array, ``x`` for a linear one) and
  ``d`` the depth below the probe surface along the beam. The imaged field
  of view is the rectangle ``u0 <= u <= u1``, ``0 <= d <= depth``; anatomy
  layers are defined in these coordinates so that they follow the skin.

The output image is a square Cartesian grid covering the bounding box of the
field of view; :meth:`ProbeGeometry.pixel_coordinates` maps every pixel to
``(x, z)`` and is shared by the image (through the beamformed polar grid) and
the mask (through the anatomy label function), so both line up exactly.
"""
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, Tuple, Union

import numpy as np
from pymust import utils as must_utils

#: A scalar or an array of coordinates (broadcast elementwise).
ArrayLike = Union[float, np.ndarray]

#: Reference output size: acoustic parameters below are given for it and are
#: scaled with ``size / REFERENCE_SIZE`` so that a speckle grain covers about
#: the same number of pixels at every output size (and small test images are
#: proportionally cheaper to simulate).
REFERENCE_SIZE = 256

#: Probe presets at the reference size. ``fc`` is the centre frequency,
#: ``depth`` the imaged depth below the probe surface.
PROBES = {
    'convex': dict(fc=2.5e6, nelements=64, pitch=0.4e-3, kerf=0.05e-3,
                   radius=40e-3, depth=50e-3, bandwidth=75),
    'linear': dict(fc=2.5e6, nelements=96, pitch=0.4e-3, kerf=0.05e-3,
                   radius=np.inf, depth=40e-3, bandwidth=75),
}


@dataclass(frozen=True)
class ProbeGeometry:
    """Transducer parameters plus the derived imaging geometry.

    Attributes:
        probe: ``'convex'`` or ``'linear'``.
        size: Output image side in pixels.
        fc: Centre frequency in Hz.
        nelements: Number of array elements.
        pitch: Element pitch in m.
        kerf: Kerf width in m.
        radius: Radius of curvature in m (``inf`` for a linear array).
        depth: Imaged depth below the probe surface in m.
        bandwidth: Pulse-echo fractional bandwidth in percent.
        c: Speed of sound in m/s.
        attenuation: Attenuation in dB/cm/MHz.
    """

    probe: str
    size: int
    fc: float
    nelements: int
    pitch: float
    kerf: float
    radius: float
    depth: float
    bandwidth: float
    c: float = 1540.0
    attenuation: float = 0.5
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------------ probe
    @property
    def is_convex(self) -> bool:
        """bool: True for a curved array."""
        return np.isfinite(self.radius)

    @property
    def wavelength(self) -> float:
        """float: Wavelength at the centre frequency, in m."""
        return self.c / self.fc

    @property
    def fs(self) -> float:
        """float: RF sampling frequency in Hz (pymust's minimum, 4 fc)."""
        return 4.0 * self.fc

    def pymust_param(self) -> must_utils.Param:
        """Return a fresh :class:`pymust.utils.Param` for this probe.

        A new object is built on every call because pymust functions add
        fields to the structure they receive.

        Returns:
            pymust.utils.Param: Transducer and medium parameters (``fc``,
            ``Nelements``, ``pitch``, ``kerf``, ``width``, ``bandwidth``,
            ``radius``, ``c``, ``fs``, ``attenuation``, ``fnumber``).
        """
        param = must_utils.Param()
        param.fc = float(self.fc)
        param.Nelements = int(self.nelements)
        param.pitch = float(self.pitch)
        param.kerf = float(self.kerf)
        param.width = float(self.pitch - self.kerf)
        param.bandwidth = float(self.bandwidth)
        param.radius = float(self.radius)
        param.c = float(self.c)
        param.fs = float(self.fs)
        param.attenuation = float(self.attenuation)
        param.fnumber = 1.0
        return param

    def element_positions(
            self) -> Tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Element positions and orientations (pymust's convention).

        Returns:
            tuple: ``(xe, ze, theta_e, h)`` -- flat arrays of the element
            centres (m) and angles (rad), and the apothem ``h`` (m; the
            distance from the centre of curvature to the chord).
        """
        xe, ze, the, h = self.pymust_param().getElementPositions()
        return xe.ravel(), ze.ravel(), the.ravel(), float(np.ravel(h)[0])

    @property
    def apothem(self) -> float:
        """float: Distance from the centre of curvature to the chord (m)."""
        return self.element_positions()[3] if self.is_convex else 0.0

    @property
    def lateral_range(self) -> Tuple[float, float]:
        """tuple: ``(u0, u1)`` limits of the lateral beam coordinate."""
        xe, _, the, _ = self.element_positions()
        if self.is_convex:
            return float(the[0]), float(the[-1])
        return float(xe[0]), float(xe[-1])

    # ------------------------------------------------------ beam coordinates
    def to_beam(self, x: ArrayLike,
                z: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
        """Map Cartesian ``(x, z)`` to beam coordinates ``(u, d)``.

        Args:
            x (float | numpy.ndarray): Lateral positions (m).
            z (float | numpy.ndarray): Axial positions (m).

        Returns:
            tuple: ``(u, d)`` float64 arrays of the broadcast shape: the
            lateral beam coordinate (rad for a convex array, m for a linear
            one) and the depth below the probe surface (m).
        """
        x = np.asarray(x, dtype=np.float64)
        z = np.asarray(z, dtype=np.float64)
        if self.is_convex:
            zc = z + self.apothem
            return np.arctan2(x, zc), np.hypot(x, zc) - self.radius
        return x, z

    def from_beam(self, u: ArrayLike,
                  d: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
        """Map beam coordinates ``(u, d)`` to Cartesian ``(x, z)``.

        Args:
            u (float | numpy.ndarray): Lateral beam coordinates.
            d (float | numpy.ndarray): Depths below the probe surface (m).

        Returns:
            tuple: ``(x, z)`` float64 arrays of the broadcast shape (m).
        """
        u = np.asarray(u, dtype=np.float64)
        d = np.asarray(d, dtype=np.float64)
        if self.is_convex:
            r = self.radius + d
            return r * np.sin(u), r * np.cos(u) - self.apothem
        return u, d

    def lateral_metres(self, u: ArrayLike,
                       d: ArrayLike = 0.0) -> np.ndarray:
        """Arc length (m) at depth ``d`` corresponding to lateral ``u``.

        Args:
            u (float | numpy.ndarray): Lateral beam coordinate (difference).
            d (float | numpy.ndarray): Depth below the probe surface (m).

        Returns:
            numpy.ndarray: The arc length ``u * (radius + d)`` for a convex
            array, ``u`` itself for a linear one.
        """
        if self.is_convex:
            return np.asarray(u) * (self.radius + d)
        return np.asarray(u)

    def in_fov(self, u: np.ndarray, d: np.ndarray) -> np.ndarray:
        """Boolean mask of beam coordinates inside the field of view.

        Args:
            u (numpy.ndarray): Lateral beam coordinates.
            d (numpy.ndarray): Depths below the probe surface (m).

        Returns:
            numpy.ndarray: bool array of the broadcast shape.
        """
        u0, u1 = self.lateral_range
        return (u >= u0) & (u <= u1) & (d >= 0) & (d <= self.depth)

    def fov_area(self) -> float:
        """Area of the field of view.

        Returns:
            float: The area in m^2 (an annulus sector for a convex array).
        """
        u0, u1 = self.lateral_range
        if self.is_convex:
            r0, r1 = self.radius, self.radius + self.depth
            return 0.5 * (u1 - u0) * (r1 ** 2 - r0 ** 2)
        return (u1 - u0) * self.depth

    # ------------------------------------------------------------ grids
    def polar_grid(self) -> Tuple[np.ndarray, np.ndarray]:
        """Beamforming grid in beam coordinates.

        Returns:
            tuple: ``(u, d)`` 1-D axes; rows of beamformed data follow ``d``
            and columns follow ``u``. Sampling is finer than the output
            pixels (radially 1.5x, laterally 1.2x at the deepest point) so
            that the scan conversion only interpolates.
        """
        key = 'polar_grid'
        if key not in self._cache:
            pixel = self.pixel_size
            n_d = int(np.ceil(1.5 * self.depth / pixel)) + 1
            u0, u1 = self.lateral_range
            arc = self.lateral_metres(u1 - u0, self.depth)
            n_u = int(np.ceil(1.2 * arc / pixel)) + 1
            self._cache[key] = (np.linspace(u0, u1, n_u),
                                np.linspace(0.0, self.depth, n_d))
        return self._cache[key]

    @property
    def image_box(self) -> Tuple[float, float, float]:
        """tuple: ``(x0, z0, side)`` of the square Cartesian output box."""
        u0, u1 = self.lateral_range
        uu, dd = np.meshgrid(np.linspace(u0, u1, 257),
                             np.array([0.0, self.depth]))
        x, z = self.from_beam(uu, dd)
        if self.is_convex:  # the chord edges are the shallowest points
            z = np.concatenate([z.ravel(), [0.0]])
        width = x.max() - x.min()
        height = z.max() - z.min()
        side = max(width, height)
        x0 = 0.5 * (x.max() + x.min()) - side / 2
        return float(x0), float(z.min()), float(side)

    @property
    def pixel_size(self) -> float:
        """float: Side of an output pixel in m."""
        return self.image_box[2] / self.size

    def pixel_coordinates(self) -> Tuple[np.ndarray, np.ndarray]:
        """Cartesian coordinates of the output pixel centres.

        Returns:
            tuple: ``(x, z)`` arrays of shape ``(size, size)``; row index
            increases with depth ``z`` and column index with ``x``.
        """
        x0, z0, side = self.image_box
        centres = (np.arange(self.size) + 0.5) * side / self.size
        xx, zz = np.meshgrid(x0 + centres, z0 + centres)
        return xx, zz

    def scan_conversion_maps(
            self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel -> polar-grid lookup used by :func:`scan_convert`.

        Returns:
            tuple: ``(map_col, map_row, inside)`` where the maps are float32
            fractional indices into the polar grid (``cv2.remap`` format)
            and ``inside`` is the boolean field-of-view mask of the image.
        """
        key = 'scan_maps'
        if key not in self._cache:
            x, z = self.pixel_coordinates()
            u, d = self.to_beam(x, z)
            ug, dg = self.polar_grid()
            map_col = (u - ug[0]) / (ug[1] - ug[0])
            map_row = (d - dg[0]) / (dg[1] - dg[0])
            inside = self.in_fov(u, d)
            self._cache[key] = (map_col.astype(np.float32),
                                map_row.astype(np.float32), inside)
        return self._cache[key]

    def settings(self) -> Dict[str, object]:
        """JSON-serialisable description (for ``meta.json``).

        Returns:
            dict: Probe, frequencies, sizes (SI units, keys with units) and
            the transmit.
        """
        return dict(
            probe=self.probe, size=self.size, center_frequency_hz=self.fc,
            n_elements=self.nelements, pitch_m=self.pitch, kerf_m=self.kerf,
            radius_m=None if not self.is_convex else self.radius,
            depth_m=self.depth, bandwidth_percent=self.bandwidth,
            speed_of_sound_m_s=self.c,
            attenuation_db_cm_mhz=self.attenuation,
            pixel_size_m=self.pixel_size,
            transmit='diverging wave (all elements at t=0)'
            if self.is_convex else 'plane wave (0 deg)')


@lru_cache(maxsize=8)
def make_geometry(probe: str = 'convex',
                  size: int = REFERENCE_SIZE) -> ProbeGeometry:
    """Build the (cached) :class:`ProbeGeometry` for a probe and image size.

    The centre frequency scales with ``size / REFERENCE_SIZE`` (fewer
    scatterers and frequency samples for small images); the physical field
    of view does not change.

    Args:
        probe (str): ``'convex'`` (sector image) or ``'linear'``.
        size (int): Output image side in pixels (>= 32).

    Returns:
        ProbeGeometry: The geometry.

    Raises:
        ValueError: If the probe is unknown or ``size`` is not an integer
            >= 32.
    """
    if probe not in PROBES:
        raise ValueError(f'unknown probe {probe!r}; expected one of '
                         f'{sorted(PROBES)}')
    if int(size) != size or size < 32:
        raise ValueError(f'size must be an integer >= 32, got {size!r}')
    preset = dict(PROBES[probe])
    preset['fc'] = preset['fc'] * size / REFERENCE_SIZE
    return ProbeGeometry(probe=probe, size=int(size), **preset)
