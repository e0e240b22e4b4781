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
from typing import TYPE_CHECKING, Dict, Optional, Tuple

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:
    from .difficulty import SimOptions
    from .geometry import ProbeGeometry

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

#: Muscle striations: +STRIATION_DB where cos(phase) > 0.75, i.e. on a
#: share arccos(0.75) / pi of the muscle.
STRIATION_DB = 8.0
STRIATION_SHARE = float(np.arccos(0.75) / np.pi)
#: Parenchyma's texture amplitude (dB per unit of its smooth field).
PARENCHYMA_TEXTURE_DB = 2.0
#: Cystic parts of a mixed-echo lesion (dB) and strong reflectors that cast
#: artefact shadows (dB).
CYST_DB = -22.0
REFLECTOR_DB = 18.0


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

    def radius(self, phi: np.ndarray) -> np.ndarray:
        """Contour radius (m) in direction ``phi`` (rad, from +x).

        Args:
            phi (numpy.ndarray): Directions (rad) seen from the centre.

        Returns:
            numpy.ndarray: Radii (m), same shape: the rotated ellipse's,
            lobulated by the harmonics and stretched by the spicules.
        """
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

    def inside(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Boolean mask of points inside the lesion.

        Args:
            x (numpy.ndarray): Lateral positions (m).
            z (numpy.ndarray): Axial positions (m), same shape.

        Returns:
            numpy.ndarray: bool array, same shape as ``x``.
        """
        dx, dz = x - self.centre[0], z - self.centre[1]
        rho = np.hypot(dx, dz)
        out = np.zeros(np.shape(x), dtype=bool)
        near = rho <= self.max_radius
        out[near] = rho[near] <= self.radius(np.arctan2(dz[near], dx[near]))
        return out

    @property
    def max_radius(self) -> float:
        """float: Upper bound of the contour radius (m)."""
        phi = np.linspace(-np.pi, np.pi, 2049)
        return float(self.radius(phi).max())

    def extent(self) -> Tuple[float, float]:
        """Size of the lesion's bounding box.

        Returns:
            tuple: ``(width, height)`` in m.
        """
        phi = np.linspace(-np.pi, np.pi, 2049)
        r = self.radius(phi)
        x, z = r * np.cos(phi), r * np.sin(phi)
        return float(np.ptp(x)), float(np.ptp(z))


class _SmoothField:
    """Smooth Gaussian random field on the field of view (std 1)."""

    def __init__(self, rng, geometry, corr_length, n=48):
        """Draw the field.

        Args:
            rng (numpy.random.Generator): Random source.
            geometry (ProbeGeometry): Field of view.
            corr_length (float): Smoothing length (m).
            n (int): Side of the raster over the field of view.
        """
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
        options (SimOptions, optional): Difficulty options; None or the
            defaults give the original scene (nothing below is drawn).
        rng_extra (numpy.random.Generator, optional): Source of every draw
            of the difficulty options (lesion echo pattern, artefacts), so
            that the anatomy drawn from ``rng`` is the same with and
            without them.
    """

    def __init__(self,
                 geometry: 'ProbeGeometry',
                 rng: np.random.Generator,
                 malignant: bool,
                 homogeneous: bool = False,
                 options: Optional['SimOptions'] = None,
                 rng_extra: Optional[np.random.Generator] = None) -> None:
        self.geometry = geometry
        self.extra = None
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
        if options is not None and not options.is_default and \
                not homogeneous:
            if rng_extra is None:
                raise ValueError('difficulty options need rng_extra')
            self.extra = self._sample_extra(rng_extra, options)
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

    def _sample_extra(self, rng, opts):
        """Draw the difficulty extras (always the same number of draws).

        Returns:
            dict: Lesion echo pattern and its fields, artefact shadows,
            contact-loss band and reverberation parameters.
        """
        g = self.geometry
        u0, u1 = g.lateral_range
        span = u1 - u0
        names = list(opts.lesion_echo)
        weights = np.array([opts.lesion_echo[n] for n in names], float)
        pattern = names[int(rng.choice(len(names), p=weights /
                                       weights.sum()))]
        fine = _SmoothField(rng, g, 3.0e-3, n=96)
        coarse = _SmoothField(rng, g, 4.0e-3, n=96)
        cyst_frac = float(rng.uniform(0.3, 0.6))
        solid_db = float(rng.uniform(-1.0, 3.0))
        # artefact shadows: strong small reflectors, 1-2 per image
        has_shadow = rng.random() < opts.shadow_prob
        n_shadow = int(rng.integers(1, 3))
        shadows = []
        for _ in range(2):
            d_s = float(rng.uniform(0.08, 0.6) * g.depth)
            shadows.append(dict(
                u=float(u0 + rng.uniform(0.1, 0.9) * span), d=d_s,
                width=float(rng.uniform(1.5e-3, 4.0e-3)),
                thickness=float(rng.uniform(0.6e-3, 1.2e-3)),
                db=-float(rng.uniform(10.0, 25.0))))
        has_edge = rng.random() < 0.3
        edge = dict(side=int(rng.integers(0, 2)),
                    width=float(rng.uniform(3e-3, 8e-3)),
                    db=-float(rng.uniform(15.0, 25.0)))
        has_reverb = rng.random() < opts.reverb_prob
        reverb = dict(n=int(rng.integers(2, 4)),
                      level_db=float(rng.uniform(-2.0, 5.0)),
                      decay_db=float(rng.uniform(4.0, 8.0)),
                      centre=float(u0 + rng.uniform(0.2, 0.8) * span),
                      half=float(rng.uniform(0.2, 0.5) * span))
        iso_db, fine_stats, cyst_level = self._lesion_levels(
            fine, coarse, opts.iso_texture_db, cyst_frac)
        extra = dict(
            options=opts, pattern=pattern, fine=fine, coarse=coarse,
            fine_stats=fine_stats, cyst_level=cyst_level,
            cyst_frac=cyst_frac, solid_db=solid_db, iso_db=float(iso_db),
            shadows=shadows[:n_shadow] if has_shadow else [],
            edge=edge if has_shadow and has_edge else None,
            reverb=reverb if has_reverb else None)
        attrs = self.lesion.attrs
        attrs['echo_pattern'] = pattern
        if pattern == 'iso':
            attrs['echogenicity_db'] = round(float(iso_db), 2)
        elif pattern == 'mixed':
            attrs['echogenicity_db'] = round(solid_db, 2)
            attrs['cystic_fraction'] = round(cyst_frac, 3)
        attrs['artefact_shadows'] = len(extra['shadows']) + (
            extra['edge'] is not None)
        attrs['reverberation'] = int(extra['reverb'] is not None)
        return extra

    def _lesion_levels(self, fine, coarse, texture_db, cyst_frac):
        """Levels that make a lesion isoechoic / mixed, from a raster of
        the lesion and the parenchyma ring (4 mm) around it.

        The lesion's heterogeneity field is standardised over the lesion
        (``fine_stats``: its mean and std there). ``iso_db`` gives the
        lesion the mean intensity of the parenchyma of the ring, its
        texture included (that texture varies over a few mm, so the match
        is local). The mean echo level in dB is then lower by ``(s^2 -
        2^2) ln(10) / 20`` dB for a texture of ``s`` dB (1.4 dB at 4 dB);
        at 128 px the point spread function averages intensity over the
        texture blobs, and the displayed gray of such lesions measured
        within ~10 % of the parenchyma beside them.
        ``cyst_level`` is the quantile of the coarse field that makes
        ``cyst_frac`` of the lesion cystic.

        Returns:
            tuple: ``(iso_db, (mean, std), cyst_level)``.
        """
        g = self.geometry
        les = self.lesion
        reach = les.max_radius + 4e-3
        step = 0.1e-3
        xs = les.centre[0] + np.arange(-reach, reach + step, step)
        zs = les.centre[1] + np.arange(-reach, reach + step, step)
        xx, zz = (a.ravel() for a in np.meshgrid(xs, zs))
        lab = self.labels(xx, zz)
        inside = lab == _ID['lesion']
        rho = np.hypot(xx - les.centre[0], zz - les.centre[1])
        r = les.radius(np.arctan2(zz - les.centre[1], xx - les.centre[0]))
        ring = (lab == _ID['parenchyma']) & (rho < r + 4e-3)
        u, d = g.to_beam(xx, zz)
        f = fine(u[inside], d[inside])
        stats = (float(f.mean()), float(f.std() + 1e-9))
        f = (f - stats[0]) / stats[1]
        # the mean intensity of the ring (the point spread function
        # averages intensity over the texture blobs, so this is also what
        # the display shows, to ~1 dB)
        tex = PARENCHYMA_TEXTURE_DB * self.texture(u[ring], d[ring]) \
            if ring.any() else np.zeros(1)
        iso_db = 10 * np.log10(np.mean(_db(tex) ** 2) /
                               np.mean(_db(texture_db * f) ** 2))
        cyst_level = float(np.quantile(coarse(u[inside], d[inside]),
                                       cyst_frac))
        return float(iso_db), stats, cyst_level

    # -------------------------------------------------------------- geometry
    def _skin_arc(self, u):
        return self.geometry.lateral_metres(u - self.u_mid)

    def _in_vessel(self, x, z):
        v = self.vessel
        cx, cz = v['centre']
        return (((x - cx) / v['radius']) ** 2
                + ((z - cz) / (v['radius'] * v['ratio'])) ** 2) <= 1.0

    def labels(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
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
        if self.extra is not None:
            gain += self._artefact_shadows(uu, dd, px_u)
        return gain

    def _in_reflector(self, u, d, shadow):
        """Points of the strong reflector that casts ``shadow``."""
        g = self.geometry
        lateral = g.lateral_metres(u - shadow['u'], shadow['d'])
        return ((lateral / (0.5 * shadow['width'])) ** 2 +
                ((d - shadow['d']) / (0.5 * shadow['thickness'])) ** 2) <= 1

    def _artefact_shadows(self, uu, dd, px_u):
        """dB gain of the artefact shadows and the contact-loss band on the
        beam raster ``(uu, dd)`` (soft lateral edges of ~0.6 mm)."""
        g = self.geometry
        gain = np.zeros(uu.shape)
        for shadow in self.extra['shadows']:
            inside = self._in_reflector(uu, dd, shadow)
            below = np.cumsum(inside, axis=0) > 0
            below &= ~inside
            frac = ndimage.gaussian_filter1d(below.astype(float),
                                             0.6e-3 / px_u, axis=1)
            gain += shadow['db'] * frac
        edge = self.extra['edge']
        if edge is not None:
            u0, u1 = g.lateral_range
            dist = g.lateral_metres(uu - u0 if edge['side'] == 0
                                    else u1 - uu)
            band = (dist < edge['width']).astype(float)
            gain += edge['db'] * ndimage.gaussian_filter1d(
                band, 1.0e-3 / px_u, axis=1)
        return gain

    def _reverberation(self, u, d):
        """Linear amplitude of the reverberation replicas at points."""
        rev = self.extra['reverb']
        g = self.geometry
        s = self._skin_arc(u)
        interface = self.fat(s)
        half_thick = 0.75 * self.fascia_thickness
        lateral = g.lateral_metres(u - rev['centre'])
        half = g.lateral_metres(rev['half'])
        window = np.cos(0.5 * np.pi * np.clip(np.abs(lateral) / half, 0, 1))
        amp = np.zeros(np.shape(u))
        for k in range(2, 2 + rev['n']):
            level = rev['level_db'] - rev['decay_db'] * (k - 2)
            band = np.abs(d - k * interface) < half_thick
            amp[band] = np.maximum(amp[band], _db(level) * window[band])
        return amp

    def density_factor(self, x: np.ndarray,
                       z: np.ndarray) -> Optional[np.ndarray]:
        """Scatterer density factor at points (None: 1 everywhere).

        Isoechoic lesions and subcutaneous fat get fewer, stronger
        scatterers (see :mod:`.difficulty`); the mean intensity is kept by
        scaling the amplitudes with ``1 / sqrt(factor)``.

        Args:
            x (numpy.ndarray): Lateral positions (m).
            z (numpy.ndarray): Axial positions (m), same shape.

        Returns:
            numpy.ndarray | None: Factors in (0, 1], same shape as ``x``;
            None without difficulty options.
        """
        if self.extra is None:
            return None
        opts = self.extra['options']
        lab = self.labels(x, z)
        out = np.ones(np.shape(x))
        out[lab == _ID['subcutaneous']] = opts.fat_density
        if self.extra['pattern'] == 'iso':
            out[lab == _ID['lesion']] = opts.iso_lesion_density
        return out

    def _posterior_gain_db(self, u, d):
        g = self.geometry
        u0, u1 = g.lateral_range
        n_d, n_u = self.posterior.shape
        rows = d / g.depth * (n_d - 1)
        cols = (u - u0) / (u1 - u0) * (n_u - 1)
        return ndimage.map_coordinates(self.posterior, [rows, cols], order=1,
                                       mode='nearest')

    def amplitude(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
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
        if self.extra is not None:
            self._extra_db(db, lab, u, d)
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
        if self.extra is not None and self.extra['reverb'] is not None:
            # incoherent sum: the replicas cross every tissue, lumen too
            amp = np.sqrt(amp ** 2 + self._reverberation(u, d) ** 2)
        amp[lab == 0] = 0.0
        return amp

    def _extra_db(self, db, lab, u, d):
        """Apply the difficulty options to the dB map (in place)."""
        ex = self.extra
        opts = ex['options']
        scale = opts.tissue_contrast
        for name in ('subcutaneous', 'muscle'):
            db[lab == _ID[name]] += (scale - 1.0) * TISSUE_DB[name]
        # muscle: its striations' share compensated by the same factor
        db[lab == _ID['muscle']] -= (1.0 - scale) * STRIATION_DB * \
            STRIATION_SHARE
        les = lab == _ID['lesion']
        mean, std = ex['fine_stats']
        fine = (ex['fine'](u[les], d[les]) - mean) / std
        if ex['pattern'] == 'iso':
            db[les] = ex['iso_db'] + opts.iso_texture_db * fine
        elif ex['pattern'] == 'mixed':
            cyst = ex['coarse'](u[les], d[les]) < ex['cyst_level']
            db[les] = np.where(cyst, CYST_DB, ex['solid_db'] + 1.5 * fine)
        for shadow in ex['shadows']:
            db[self._in_reflector(u, d, shadow)] += REFLECTOR_DB

    # ---------------------------------------------------------- description
    def describe(self) -> Dict[str, object]:
        """Lesion class and attributes (one ``labels.csv`` row).

        Returns:
            dict: ``label``, ``label_id`` and the lesion's attributes
            (shape, margin, sizes, echogenicity, posterior features, ...).
        """
        label = CLASSES_LESION[int(self.malignant)]
        out = dict(label=label, label_id=int(self.malignant))
        out.update(self.lesion.attrs)
        return out


def sample_scatterers(
    geometry: 'ProbeGeometry',
    anatomy: Anatomy,
    rng: np.random.Generator,
    density: float,
    rng_thin: Optional[np.random.Generator] = None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        rng_thin (numpy.random.Generator, optional): With difficulty
            options, the source that thins the scatterers where
            ``anatomy.density_factor`` is below 1 (the survivors' amplitudes
            scaled by ``1 / sqrt(factor)``); None: no thinning (original).

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
    factor = anatomy.density_factor(x, z) if rng_thin is not None else None
    if factor is not None:
        survive = rng_thin.random(n) < factor
        rc = np.where(survive, rc / np.sqrt(factor), 0.0)
    keep = rc != 0
    as_row = [a[keep].reshape(1, -1).astype(np.float32) for a in (x, z, rc)]
    return tuple(as_row)
