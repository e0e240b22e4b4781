"""Difficulty options of the simulator: data that is hard where real
ultrasound is hard.

The default options reproduce the original simulator byte for byte (the
code paths below are not even entered). The ``'hard'`` preset turns on:

* **Lesion echo patterns** (``lesion_echo``: weights of ``'hypo'``,
  ``'iso'``, ``'mixed'``): *hypo* is the original hypoechoic lesion;
  an *iso*-echoic lesion has the mean backscattered intensity of the
  parenchyma around it (its displayed gray within ~10 %) and differs only
  in texture: a blotchy heterogeneity of
  ``iso_texture_db`` dB (std) over ~3 mm where parenchyma has 2 dB over
  ~4 mm, and optionally fewer, stronger
  scatterers (``iso_lesion_density`` < 1 times the scatterer density,
  amplitudes scaled by ``1 / sqrt(density)``: partially developed, spikier
  speckle -- which also darkens the display, so the hard preset keeps 1);
  a *mixed*-echo lesion has anechoic cystic parts (``-22 dB``, 30-60 % of
  it, in blobs of ~4 mm) inside a solid part slightly brighter than
  parenchyma.
* **Texture instead of brightness** (``tissue_contrast``): the mean
  echogenicity offsets of subcutaneous fat and muscle relative to
  parenchyma are multiplied by this factor (the muscle's bright striations
  are compensated so that its mean follows); the tissues keep their
  textures (fat lobules and septa, muscle striations, parenchyma's coarse
  texture), and fat gets its own coarser speckle (``fat_density``).
* **Per-image imaging settings** drawn for every image: overall gain
  offset (``gain_db``, uniform in ``[-gain_db, gain_db]``), a TGC error
  curve (``tgc_db``: five knots over the depth, each uniform in
  ``[-tgc_db, tgc_db]``, linearly interpolated), the displayed dynamic
  range (``dynamic_range_db``: uniform in ``[low, high]``; parenchyma's
  median stays at the same gray level before the gain offset) and the
  speckle size (``speckle_scale``: the beamformed I/Q data are low-pass
  filtered so that the speckle grain grows by this factor; mean intensity
  kept).
* **Artefacts that cross anatomy boundaries**: acoustic shadows
  (``shadow_prob``: 1-2 small strong reflectors -- calcification, gas, bone
  -- each casting a 10-25 dB shadow down to the bottom of the image through
  every layer, and with probability 0.3 a contact-loss band at one edge of
  the array) and reverberation (``reverb_prob``: 2-3 decaying replicas of
  the fat/fascia interface at multiples of its depth over part of the
  width, present in every tissue, vessel lumen included).

The masks never change: artefacts darken or brighten the image across the
anatomy, exactly as they do in real scans.
"""
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Optional, Tuple, Union

import numpy as np

__all__ = ['SimulationError', 'SimOptions', 'PRESETS', 'LESION_PATTERNS',
           'resolve_options', 'ImagingDraw', 'draw_imaging']

#: Lesion echo patterns (keys of ``SimOptions.lesion_echo``).
LESION_PATTERNS = ('hypo', 'iso', 'mixed')


class SimulationError(ValueError):
    """Invalid arguments or an output directory that cannot be used."""


@dataclass
class SimOptions:
    """Difficulty options of a simulated set (see the module docstring).

    Attributes:
        preset: Name of the preset these options started from.
        lesion_echo: Weights of the lesion echo patterns.
        iso_texture_db: Std (dB) of an isoechoic lesion's heterogeneity.
        iso_lesion_density: Scatterer density factor inside isoechoic
            lesions (1 = fully developed speckle as parenchyma).
        fat_density: Scatterer density factor of subcutaneous fat.
        tissue_contrast: Factor on the mean tissue offsets (1 = original).
        gain_db: Half-range of the per-image gain offset (dB).
        tgc_db: Half-range of each TGC-error knot (dB).
        dynamic_range_db: ``(low, high)`` of the displayed dynamic range.
        speckle_scale: ``(low, high)`` of the speckle size factor.
        shadow_prob: Probability of artefact shadows in an image.
        reverb_prob: Probability of reverberation in an image.
    """

    preset: str = 'default'
    lesion_echo: Dict[str, float] = field(
        default_factory=lambda: {'hypo': 1.0})
    iso_texture_db: float = 4.0
    iso_lesion_density: float = 1.0
    fat_density: float = 1.0
    tissue_contrast: float = 1.0
    gain_db: float = 0.0
    tgc_db: float = 0.0
    dynamic_range_db: Tuple[float, float] = (50.0, 50.0)
    speckle_scale: Tuple[float, float] = (1.0, 1.0)
    shadow_prob: float = 0.0
    reverb_prob: float = 0.0

    def knobs(self) -> dict:
        """Every option except ``preset`` (JSON-serialisable).

        Returns:
            dict: Option name -> value (lists for ranges, the non-zero
            lesion echo weights).
        """
        out = asdict(self)
        out.pop('preset')
        out['lesion_echo'] = {k: float(v) for k, v in
                              sorted(out['lesion_echo'].items()) if v}
        for key in ('dynamic_range_db', 'speckle_scale'):
            out[key] = [float(v) for v in out[key]]
        return out

    @property
    def is_default(self) -> bool:
        """bool: Options of the original simulator (whatever the name)."""
        return self.knobs() == SimOptions().knobs()

    def to_dict(self) -> dict:
        """The options as written to ``meta.json``.

        Returns:
            dict: ``{'preset': ..., <knobs>}`` (see :meth:`knobs`).
        """
        return dict(preset=self.preset, **self.knobs())

    @property
    def varies_imaging(self) -> bool:
        """bool: Per-image gain, TGC, dynamic range or speckle size."""
        return (self.gain_db > 0 or self.tgc_db > 0 or
                self.dynamic_range_db[0] != self.dynamic_range_db[1] or
                self.dynamic_range_db[0] != 50.0 or
                self.speckle_scale != (1.0, 1.0))


#: Named presets: keyword overrides of :class:`SimOptions`.
PRESETS = {
    'default': {},
    'hard': dict(lesion_echo={'hypo': 0.3, 'iso': 0.4, 'mixed': 0.3},
                 iso_texture_db=4.0, iso_lesion_density=1.0,
                 fat_density=0.3, tissue_contrast=0.25, gain_db=6.0,
                 tgc_db=4.0, dynamic_range_db=(40.0, 65.0),
                 speckle_scale=(1.0, 1.4), shadow_prob=0.5,
                 reverb_prob=0.5),
}


def _pair(name: str, value) -> Tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SimulationError(f'{name} must be a number or a (low, high) '
                              f'pair, got {value!r}') from None
    if low > high:
        raise SimulationError(f'{name}: low {low} > high {high}')
    return low, high


def _check(opts: SimOptions) -> SimOptions:
    """Validate (and normalise) options; raises :class:`SimulationError`."""
    echo = opts.lesion_echo
    if isinstance(echo, str):
        echo = {echo: 1.0}
    if not isinstance(echo, dict) or not echo:
        raise SimulationError(f'lesion_echo must be a dict of weights of '
                              f'{LESION_PATTERNS}, got {echo!r}')
    unknown = [k for k in echo if k not in LESION_PATTERNS]
    if unknown:
        raise SimulationError(f'lesion_echo: unknown pattern(s) {unknown}; '
                              f'expected some of {LESION_PATTERNS}')
    try:
        echo = {k: float(v) for k, v in echo.items()}
    except (TypeError, ValueError):
        raise SimulationError(f'lesion_echo weights must be numbers, got '
                              f'{echo!r}') from None
    if min(echo.values()) < 0 or sum(echo.values()) <= 0:
        raise SimulationError(f'lesion_echo weights must be >= 0 with a '
                              f'positive sum, got {echo}')
    opts.lesion_echo = {k: echo[k] for k in LESION_PATTERNS if k in echo}
    for name in ('iso_texture_db', 'tissue_contrast', 'gain_db', 'tgc_db'):
        value = getattr(opts, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or value < 0:
            raise SimulationError(f'{name} must be a number >= 0, got '
                                  f'{value!r}')
        setattr(opts, name, float(value))
    for name in ('iso_lesion_density', 'fat_density'):
        value = getattr(opts, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 < value <= 1:
            raise SimulationError(f'{name} must be in (0, 1], got '
                                  f'{value!r}')
        setattr(opts, name, float(value))
    for name in ('shadow_prob', 'reverb_prob'):
        value = getattr(opts, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not 0 <= value <= 1:
            raise SimulationError(f'{name} must be in [0, 1], got '
                                  f'{value!r}')
        setattr(opts, name, float(value))
    opts.dynamic_range_db = _pair('dynamic_range_db', opts.dynamic_range_db)
    if opts.dynamic_range_db[0] < 10:
        raise SimulationError(f'dynamic_range_db must be >= 10 dB, got '
                              f'{opts.dynamic_range_db}')
    opts.speckle_scale = _pair('speckle_scale', opts.speckle_scale)
    if opts.speckle_scale[0] < 1 or opts.speckle_scale[1] > 4:
        raise SimulationError(f'speckle_scale must lie in [1, 4], got '
                              f'{opts.speckle_scale}')
    return opts


def resolve_options(difficulty: Union[None, str, dict, SimOptions] = None,
                    **overrides: Any) -> SimOptions:
    """Options from a preset name, a dict or options, plus overrides.

    Args:
        difficulty: None or ``'default'`` (the original simulator),
            ``'hard'``, a dict (``{'preset': 'hard', 'gain_db': 3, ...}``;
            its ``preset`` is the starting point) or :class:`SimOptions`.
        **overrides: Individual options replacing the preset's values
            (None values are ignored).

    Returns:
        SimOptions: Validated options.

    Raises:
        SimulationError: An unknown preset or option, or a bad value.
    """
    if isinstance(difficulty, SimOptions):
        base = dict(difficulty.to_dict())
    elif isinstance(difficulty, dict):
        base = dict(difficulty)
    elif difficulty is None or isinstance(difficulty, str):
        base = dict(preset=difficulty or 'default')
    else:
        raise SimulationError(f'difficulty must be a preset name, a dict or '
                              f'SimOptions, got {difficulty!r}')
    base.update({k: v for k, v in overrides.items() if v is not None})
    preset = base.pop('preset', 'default')
    if preset not in PRESETS:
        raise SimulationError(f'unknown difficulty preset {preset!r}; '
                              f'expected one of {sorted(PRESETS)}')
    names = {f.name for f in fields(SimOptions)} - {'preset'}
    unknown = sorted(set(base) - names)
    if unknown:
        raise SimulationError(f'unknown simulator option(s) {unknown}; '
                              f'expected some of {sorted(names)}')
    values = dict(PRESETS[preset])
    values.update(base)
    return _check(SimOptions(preset=preset, **values))


@dataclass
class ImagingDraw:
    """Per-image imaging settings drawn for one image.

    Attributes:
        gain_db: Overall gain offset.
        tgc_knots_db: TGC error at five equally spaced depths (0..depth).
        dynamic_range_db: Displayed dynamic range.
        speckle_scale: Speckle size factor.
    """

    gain_db: float = 0.0
    tgc_knots_db: Tuple[float, ...] = (0.0, ) * 5
    dynamic_range_db: float = 50.0
    speckle_scale: float = 1.0

    def gain_profile_db(self, n_rows: int) -> np.ndarray:
        """Gain (dB) of each depth row of the polar grid.

        Args:
            n_rows (int): Number of depth rows.

        Returns:
            numpy.ndarray: ``(n_rows,)`` gains: the overall gain plus the
            TGC curve interpolated between its knots.
        """
        knots = np.linspace(0.0, 1.0, len(self.tgc_knots_db))
        rows = np.linspace(0.0, 1.0, n_rows)
        return self.gain_db + np.interp(rows, knots, self.tgc_knots_db)

    def describe(self) -> dict:
        """The ``labels.csv`` columns of these settings.

        Returns:
            dict: ``gain_db``, ``tgc_db_max``, ``dynamic_range_db`` and
            ``speckle_scale`` (rounded).
        """
        return dict(gain_db=round(self.gain_db, 2),
                    tgc_db_max=round(float(np.max(np.abs(
                        self.tgc_knots_db))), 2),
                    dynamic_range_db=round(self.dynamic_range_db, 2),
                    speckle_scale=round(self.speckle_scale, 3))


def draw_imaging(rng: Optional[np.random.Generator],
                 opts: SimOptions) -> ImagingDraw:
    """Draw an image's imaging settings (always the same number of draws,
    so one option's values do not depend on the others).

    Args:
        rng (numpy.random.Generator, optional): The image's imaging stream;
            None gives the fixed default settings.
        opts (SimOptions): The options.

    Returns:
        ImagingDraw: The settings.
    """
    if rng is None:
        return ImagingDraw()
    u = rng.uniform(-1.0, 1.0, size=6)
    f = rng.uniform(0.0, 1.0, size=2)
    lo, hi = opts.dynamic_range_db
    s_lo, s_hi = opts.speckle_scale
    return ImagingDraw(
        gain_db=float(opts.gain_db * u[0]),
        tgc_knots_db=tuple(float(v) for v in opts.tgc_db * u[1:]),
        dynamic_range_db=float(lo + (hi - lo) * f[0]),
        speckle_scale=float(s_lo + (s_hi - s_lo) * f[1]))
