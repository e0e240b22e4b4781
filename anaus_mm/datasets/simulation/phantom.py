"""Random anatomy (label map + echogenicity) and its scatterer phantom.

An :class:`Anatomy` is an analytic description of one scene -- layered soft
tissue (subcutaneous fat, a bright fascia line, parenchyma, a deep fascia,
striated muscle), an anechoic vessel and a benign- or malignant-looking
lesion. It can be evaluated anywhere:

* :meth:`Anatomy.labels` gives the anatomy id (the mask), and
* :meth:`Anatomy.amplitude` the scattering amplitude (echogenicity, texture
  and posterior shadowing / enhancement),

so the scatterers (sampled at random positions) and the mask (sampled at the
output pixel centres) come from the same function.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

#: Anatomy class names; the index is the id stored in the masks. Id 0 is
#: everything outside the imaged field of view.
ANATOMY_CLASSES = ('background', 'subcutaneous', 'fascia', 'parenchyma',
                   'muscle', 'vessel', 'lesion')

#: RGB colour per anatomy id (for overlays; stored in ``meta.json``).
ANATOMY_PALETTE = ((0, 0, 0), (230, 190, 60), (250, 250, 250),
                   (90, 170, 90), (180, 80, 80), (60, 120, 230),
                   (230, 60, 200))

#: Lesion classes (``label`` / ``label_id`` columns of ``labels.csv``).
CLASSES_LESION = ('benign', 'malignant')

_ID = {name: i for i, name in enumerate(ANATOMY_CLASSES)}

#: Mean echogenicity of each tissue relative to parenchyma, in dB.
TISSUE_DB = dict(subcutaneous=-9.0, fascia=11.0, parenchyma=0.0,
                 muscle=-5.0, vessel=None)


def _db(value):
    return 10.0 ** (np.asarray(value) / 20.0)


@dataclass
class Lesion:
    """Star-shaped lesion ``rho <= r(phi)`` around a centre (metres).

    Attributes:
        centre: ``(x, z)`` Cartesian centre.
        semi_axes: ``(a, b)`` semi-axes of the base ellipse before rotation.
        tilt: Rotation of the ellipse (rad).
        harmonics: ``(k, amplitude, phase)`` rows of contour lobulation.
        spicules: ``(angle, length, half_width)`` rows; length in units of
            the local radius.
        attrs: Descriptive attributes written to ``labels.csv``.
    """

    centre: tuple
    semi_axes: tuple
    tilt: float
    harmonics: np.ndarray
    spicules: np.ndarray
    attrs: dict = field(default_factory=dict)

    def radius(self, phi):
        """Contour radius (m) in direction ``phi`` (rad, from +x)."""
        a, b = self.semi_axes
        p = phi - self.tilt
        r = a * b / np.sqrt((b * np.cos(p)) ** 2 + (a * np.sin(p)) ** 2)
        mod = np.ones_like(phi)
        for k, amp, phase in self.harmonics:
            mod += amp * np.cos(k * phi + phase)
        r = r * mod
        for angle, length, half_width in self.spicules:
            dist = np.abs(np.angle(np.exp(1j * (phi - angle))))
            r = r * (1 + length * np.clip(1 - dist / half_width, 0, None))
        return r

    def inside(self, x, z):
        """Boolean mask of points inside the lesion."""
        dx, dz = x - self.centre[0], z - self.centre[1]
        rho = np.hypot(dx, dz)
        out = np.zeros(np.shape(x), dtype=bool)
        near = rho <= self.max_radius
        out[near] = rho[near] <= self.radius(np.arctan2(dz[near], dx[near]))
        return out

    @property
    def max_radius(self):
        """float: Upper bound of the contour radius (m)."""
        phi = np.linspace(-np.pi, np.pi, 2049)
        return float(self.radius(phi).max())

    def extent(self):
        """tuple: ``(width, height)`` of the lesion's bounding box (m)."""
        phi = np.linspace(-np.pi, np.pi, 2049)
        r = self.radius(phi)
        x, z = r * np.cos(phi), r * np.sin(phi)
        return float(np.ptp(x)), float(np.ptp(z))


class _SmoothField:
    """Smooth Gaussian random field on the field of view (std 1)."""

    def __init__(self, rng, geometry, corr_length, n=48):
        self.geometry = geometry
        self.u0, self.u1 = geometry.lateral_range
        grid = rng.standard_normal((n, n))
        pixel_d = geometry.depth / (n - 1)
        sigma = max(corr_length / pixel_d, 0.5)
        grid = ndimage.gaussian_filter(grid, sigma, mode='wrap')
        self.grid = grid / (grid.std() + 1e-12)
        self.n = n

    def __call__(self, u, d):
        rows = d / self.geometry.depth * (self.n - 1)
        cols = (u - self.u0) / (self.u1 - self.u0) * (self.n - 1)
        return ndimage.map_coordinates(self.grid, [rows, cols], order=1,
                                       mode='nearest')


class Anatomy:
    """One random scene (labels, echogenicity, lesion attributes).

    Args:
        geometry (ProbeGeometry): Imaging geometry.
        rng (numpy.random.Generator): Source of randomness (consumed only
            here, so the labels of an image can be recomputed without
            simulating it).
        malignant (bool): Lesion class.
        homogeneous (bool): If True, the scene is a single homogeneous
            parenchyma without texture, vessel or lesion (speckle tests).
    """

    def __init__(self, geometry, rng, malignant, homogeneous=False):
        self.geometry = geometry
        self.homogeneous = homogeneous
        self.malignant = bool(malignant)
        g = geometry
        u0, u1 = g.lateral_range
        self.u_mid = 0.5 * (u0 + u1)
        self.half_span = g.lateral_metres(0.5 * (u1 - u0))  # at the skin
        depth = g.depth
        # Layer boundaries: depth below the skin as a wavy function of the
        # lateral arc length s (metres along the skin).
        self.fat = self._wavy(rng, mean=rng.uniform(0.08, 0.17) * depth,
                              amp=0.012 * depth)
        self.fascia_thickness = rng.uniform(0.6e-3, 1.0e-3)
        self.deep = self._wavy(rng, mean=rng.uniform(0.70, 0.80) * depth,
                               amp=0.02 * depth)
        self.deep_thickness = rng.uniform(0.6e-3, 1.0e-3)
        self.septa = [(rng.uniform(-1, 1) * self.half_span,
                       rng.uniform(-0.6, 0.6), rng.uniform(0.25e-3, 0.45e-3))
                      for _ in range(rng.integers(2, 5))]
        self.striation_period = rng.uniform(1.8e-3, 3.0e-3)
        self.striation_slope = rng.uniform(-0.15, 0.15)
        self.texture_fat = _SmoothField(rng, g, 3e-3)
        self.texture = _SmoothField(rng, g, 4e-3)
        self.texture_lesion = _SmoothField(rng, g, 1.5e-3)
        self.lesion = self._sample_lesion(rng)
        self.vessel = self._sample_vessel(rng)
        self.posterior = self._posterior_map()

    # -------------------------------------------------------------- sampling
    @staticmethod
    def _wavy(rng, mean, amp):
        """Random smooth boundary ``d(s)`` (two sinusoids)."""
        ks = 2 * np.pi / rng.uniform(0.02, 0.08, size=2)
        phases = rng.uniform(0, 2 * np.pi, size=2)
        amps = amp * rng.uniform(0.3, 1.0, size=2)

        def boundary(s):
            return mean + sum(a * np.sin(k * s + p)
                              for a, k, p in zip(amps, ks, phases))
        boundary.mean = mean
        boundary.amp = float(amps.sum())
        return boundary

    def _sample_lesion(self, rng):
        g = self.geometry
        top = self.fat.mean + self.fat.amp + self.fascia_thickness + 2.5e-3
        bottom = self.deep.mean - self.deep.amp - 2.5e-3
        max_half = 0.5 * (bottom - top)
        if self.malignant:
            width = rng.uniform(7e-3, 17e-3)
            ratio = rng.uniform(0.7, 1.25)      # height / width
            echo_db = -rng.uniform(13.0, 20.0)
            n_harm = rng.integers(3, 6)
            harmonics = np.stack([rng.choice(np.arange(3, 9), n_harm, False),
                                  rng.uniform(0.04, 0.10, n_harm),
                                  rng.uniform(0, 2 * np.pi, n_harm)], 1)
            n_sp = int(rng.integers(6, 14))
            spicules = np.stack([rng.uniform(-np.pi, np.pi, n_sp),
                                 rng.uniform(0.25, 0.7, n_sp),
                                 rng.uniform(0.04, 0.09, n_sp)], 1)
            posterior = 'shadowing' if rng.random() < 0.75 else 'none'
            post_db = -rng.uniform(8.0, 14.0) if posterior != 'none' else 0.
            halo = rng.random() < 0.4
            shape, margin = 'irregular', 'spiculated'
        else:
            width = rng.uniform(7e-3, 16e-3)
            ratio = rng.uniform(0.45, 0.8)
            echo_db = -rng.uniform(9.0, 15.0)
            harmonics = np.stack([np.array([2, 3]), rng.uniform(0, 0.03, 2),
                                  rng.uniform(0, 2 * np.pi, 2)], 1)
            spicules = np.zeros((0, 3))
            posterior = 'enhancement' if rng.random() < 0.5 else 'none'
            post_db = rng.uniform(2.0, 4.0) if posterior != 'none' else 0.
            halo = rng.random() < 0.5          # thin echogenic capsule
            shape = 'oval' if ratio < 0.75 else 'round'
            margin = 'circumscribed'
        a = width / 2
        b = a * ratio
        spike = 1 + (spicules[:, 1].max() if len(spicules) else 0)
        scale = min(1.0, max_half / (max(a, b) * spike * 1.1))
        a, b = a * scale, b * scale
        tilt = rng.uniform(-0.3, 0.3)
        d_c = rng.uniform(top, bottom - 2 * max(a, b) * spike) \
            + max(a, b) * spike
        u_c = self._lateral_sample(rng, 0.55, d_c)
        centre = g.from_beam(u_c, d_c)
        lesion = Lesion((float(centre[0]), float(centre[1])), (a, b), tilt,
                        harmonics, spicules)
        w, h = lesion.extent()
        lesion.attrs = dict(
            shape=shape, margin=margin,
            orientation='parallel' if w >= h else 'not_parallel',
            width_mm=round(w * 1e3, 2), height_mm=round(h * 1e3, 2),
            size_mm=round(max(w, h) * 1e3, 2),
            depth_mm=round(float(d_c) * 1e3, 2),
            lateral_mm=round(float(centre[0]) * 1e3, 2),
            echogenicity_db=round(echo_db, 2), posterior=posterior,
            posterior_db=round(post_db, 2),
            shadowing=int(posterior == 'shadowing'),
            rim='halo' if (halo and self.malignant)
            else ('capsule' if halo else 'none'))
        self.lesion_db = echo_db
        self.halo = halo
        self.posterior_db = post_db
        return lesion

    def _lateral_sample(self, rng, spread, d):
        u0, u1 = self.geometry.lateral_range
        return self.u_mid + rng.uniform(-spread, spread) * 0.5 * (u1 - u0)

    def _sample_vessel(self, rng):
        g = self.geometry
        les_u, les_d = g.to_beam(*self.lesion.centre)
        radius = rng.uniform(2.0e-3, 4.0e-3)
        d_top = self.fat.mean + self.fat.amp + self.fascia_thickness + radius
        d_bot = self.deep.mean - self.deep.amp - radius - 1e-3
        d_c = rng.uniform(d_top + 1e-3, d_bot)
        # lateral position on the side opposite to the lesion, clear of it
        side = -1.0 if les_u > self.u_mid else 1.0
        u0, u1 = g.lateral_range
        span = 0.5 * (u1 - u0)
        for _ in range(20):
            u_c = self.u_mid + side * rng.uniform(0.25, 0.8) * span
            x, z = g.from_beam(u_c, d_c)
            gap = np.hypot(x - self.lesion.centre[0],
                           z - self.lesion.centre[1])
            if gap > self.lesion.max_radius + radius + 2e-3:
                break
        x, z = g.from_beam(u_c, d_c)
        return dict(centre=(float(x), float(z)), radius=float(radius),
                    ratio=float(rng.uniform(0.75, 1.0)))

    # -------------------------------------------------------------- geometry
    def _skin_arc(self, u):
        return self.geometry.lateral_metres(u - self.u_mid)

    def _in_vessel(self, x, z):
        v = self.vessel
        cx, cz = v['centre']
        return (((x - cx) / v['radius']) ** 2
                + ((z - cz) / (v['radius'] * v['ratio'])) ** 2) <= 1.0

    def labels(self, x, z):
        """Anatomy ids at Cartesian points (0 outside the field of view).

        Args:
            x (numpy.ndarray): Lateral positions (m).
            z (numpy.ndarray): Axial positions (m).

        Returns:
            numpy.ndarray: uint8 ids, same shape as ``x``.
        """
        g = self.geometry
        u, d = g.to_beam(x, z)
        lab = np.zeros(np.shape(x), dtype=np.uint8)
        fov = g.in_fov(u, d)
        if self.homogeneous:
            lab[fov] = _ID['parenchyma']
            return lab
        s = self._skin_arc(u)
        fat = self.fat(s)
        deep = self.deep(s)
        lab[fov] = _ID['parenchyma']
        lab[fov & (d < fat)] = _ID['subcutaneous']
        lab[fov & (d >= deep)] = _ID['muscle']
        fascia = ((d >= fat) & (d < fat + self.fascia_thickness)) | \
            ((d >= deep) & (d < deep + self.deep_thickness))
        lab[fov & fascia] = _ID['fascia']
        lab[fov & self._in_vessel(x, z)] = _ID['vessel']
        lab[fov & self.lesion.inside(x, z)] = _ID['lesion']
        return lab

    # ---------------------------------------------------------- echogenicity
    def _posterior_map(self):
        """Posterior shadow / enhancement gain on a beam-coordinate raster.

        Each beam (constant ``u``) is attenuated (malignant shadow) or
        brightened (benign / vessel enhancement) below the structure.
        Returns a ``(n_d, n_u)`` array of dB gains.
        """
        g = self.geometry
        n_u, n_d = 384, 384
        u0, u1 = g.lateral_range
        uu, dd = np.meshgrid(np.linspace(u0, u1, n_u),
                             np.linspace(0, g.depth, n_d))
        x, z = g.from_beam(uu, dd)
        gain = np.zeros((n_d, n_u))
        if self.homogeneous:
            return gain
        parts = [(self.lesion.inside(x, z), self.posterior_db),
                 (self._in_vessel(x, z), 2.5)]
        px_u = g.lateral_metres(u1 - u0, g.depth / 2) / n_u
        for inside, db in parts:
            if db == 0:
                continue
            below = np.cumsum(inside, axis=0) > 0
            below &= ~inside
            # soft lateral edges (~0.6 mm), slow recovery with depth
            frac = ndimage.gaussian_filter1d(below.astype(float),
                                             0.6e-3 / px_u, axis=1)
            gain += db * frac
        return gain

    def _posterior_gain_db(self, u, d):
        g = self.geometry
        u0, u1 = g.lateral_range
        n_d, n_u = self.posterior.shape
        rows = d / g.depth * (n_d - 1)
        cols = (u - u0) / (u1 - u0) * (n_u - 1)
        return ndimage.map_coordinates(self.posterior, [rows, cols], order=1,
                                       mode='nearest')

    def amplitude(self, x, z):
        """Scattering amplitude (linear, parenchyma = 1) at points.

        Args:
            x (numpy.ndarray): Lateral positions (m), 1-D.
            z (numpy.ndarray): Axial positions (m), 1-D.

        Returns:
            numpy.ndarray: Non-negative amplitudes (0 in the vessel lumen).
        """
        g = self.geometry
        lab = self.labels(x, z)
        if self.homogeneous:
            return (lab > 0).astype(np.float64)
        u, d = g.to_beam(x, z)
        db = np.zeros(np.shape(x))
        tex = self.texture(u, d)
        for name, value in TISSUE_DB.items():
            if value is not None:
                db[lab == _ID[name]] = value
        fat = lab == _ID['subcutaneous']
        db[fat] += 2.0 * self.texture_fat(u[fat], d[fat])
        s = self._skin_arc(u)
        for s0, slope, thick in self.septa:   # thin oblique bright septa
            line = np.abs(d - (self.fat(s) * 0.5 + slope * (s - s0)))
            db[fat & (line < thick)] += 8.0
        par = lab == _ID['parenchyma']
        db[par] += 2.0 * tex[par]
        mus = lab == _ID['muscle']
        phase = (d + self.striation_slope * s) / self.striation_period
        stripes = np.cos(2 * np.pi * phase) > 0.75
        db[mus & stripes] += 8.0
        les = lab == _ID['lesion']
        spread = 3.0 if self.malignant else 1.0
        db[les] = self.lesion_db + spread * self.texture_lesion(u[les],
                                                                d[les])
        if self.halo:
            lesion = self.lesion
            dx = x - lesion.centre[0]
            dz = z - lesion.centre[1]
            rho = np.hypot(dx, dz)
            r = lesion.radius(np.arctan2(dz, dx))
            width = 1.5e-3 if self.malignant else 0.4e-3
            rim = (rho > r) & (rho < r + width) & (lab != _ID['vessel'])
            db[rim] += 5.0 if self.malignant else 6.0
        db += self._posterior_gain_db(u, d)
        amp = _db(db)
        amp[lab == _ID['vessel']] = 0.0
        amp[lab == 0] = 0.0
        return amp

    # ---------------------------------------------------------- description
    def describe(self):
        """dict: Lesion class and attributes (one ``labels.csv`` row)."""
        label = CLASSES_LESION[int(self.malignant)]
        out = dict(label=label, label_id=int(self.malignant))
        out.update(self.lesion.attrs)
        return out


def sample_scatterers(geometry, anatomy, rng, density):
    """Draw the scatterer phantom of a scene.

    Scatterers are uniformly (Poisson-like) distributed over the field of
    view with ``density`` scatterers per squared wavelength; their
    reflection coefficients are Gaussian with a standard deviation equal to
    the local amplitude of ``anatomy`` (zero-amplitude ones are dropped).

    Args:
        geometry (ProbeGeometry): Imaging geometry.
        anatomy (Anatomy): Scene.
        rng (numpy.random.Generator): Random source.
        density (float): Scatterers per wavelength^2.

    Returns:
        tuple: ``(x, z, rc)`` float32 arrays of shape ``(1, N)``.
    """
    n = int(round(density * geometry.fov_area() / geometry.wavelength ** 2))
    u0, u1 = geometry.lateral_range
    u = rng.uniform(u0, u1, n)
    d_min = 0.25 * geometry.wavelength
    if geometry.is_convex:  # uniform in area: r^2 uniform
        r0, r1 = geometry.radius + d_min, geometry.radius + geometry.depth
        d = np.sqrt(rng.uniform(r0 ** 2, r1 ** 2, n)) - geometry.radius
    else:
        d = rng.uniform(d_min, geometry.depth, n)
    x, z = geometry.from_beam(u, d)
    rc = rng.standard_normal(n) * anatomy.amplitude(x, z)
    keep = rc != 0
    as_row = [a[keep].reshape(1, -1).astype(np.float32) for a in (x, z, rc)]
    return tuple(as_row)
