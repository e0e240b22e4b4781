"""Writing a simulated dataset: layout, ``meta.json``, resume, parallelism.

Layout of ``out_dir``::

    meta.json            settings, classes, palette (written first)
    images/000000.png    uint8 grayscale B-mode images
    masks/000000.png     uint8 anatomy ids (see ``meta.json``)
    labels.csv           one row per image (written last)

Every file is written with the package's atomic writers
(:mod:`anaus_mm.utils.io`, torch-free): to a hidden temporary file in its
final directory, moved into place with :func:`os.replace`, so an interrupted
run never leaves a truncated PNG; rerunning with the same settings skips the
images whose image and mask both exist (and removes leftover temporary
files).
"""
import csv
import io
import json
import os
import os.path as osp
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Dict, Union

from tqdm import tqdm

from ...utils.io import atomic_write_image, atomic_write_text
from .difficulty import SimOptions, SimulationError, resolve_options
from .geometry import PROBES, make_geometry
from .imaging import (DYNAMIC_RANGE_DB, MEDIAN_GRAY, NOISE_DB,
                      SCATTERER_DENSITY, describe_case, simulate_one)
from .phantom import ANATOMY_CLASSES, ANATOMY_PALETTE, CLASSES_LESION

#: Bumped whenever the images produced for given settings change.
GENERATOR_VERSION = '1.0'

#: Columns of ``labels.csv``.
LABEL_COLUMNS = ('filename', 'label', 'label_id', 'shape', 'margin',
                 'orientation', 'size_mm', 'width_mm', 'height_mm',
                 'depth_mm', 'lateral_mm', 'echogenicity_db', 'posterior',
                 'posterior_db', 'shadowing', 'rim', 'seed')

#: Extra ``labels.csv`` columns of a set made with difficulty options (a
#: default set keeps exactly :data:`LABEL_COLUMNS`).
DIFFICULTY_COLUMNS = ('echo_pattern', 'cystic_fraction', 'artefact_shadows',
                      'reverberation', 'gain_db', 'tgc_db_max',
                      'dynamic_range_db', 'speckle_scale')

#: Suffix of the temporary files of :mod:`anaus_mm.utils.io`
#: (``.<name><random>.tmp``).
_TMP_SUFFIX = '.tmp'

#: Difficulty options as :func:`simulate_dataset` takes them.
Options = Union[None, str, dict, SimOptions]


def image_name(index: int) -> str:
    """File name of image / mask ``index`` (same in both folders).

    Args:
        index (int): Image index.

    Returns:
        str: ``'{index:06d}.png'``.
    """
    return f'{index:06d}.png'


# --------------------------------------------------------------------- files
def _remove_temp_files(out_dir):
    """Delete temp files left by an interrupted run; return their number."""
    removed = 0
    for folder in (out_dir, osp.join(out_dir, 'images'),
                   osp.join(out_dir, 'masks')):
        if not osp.isdir(folder):
            continue
        for name in os.listdir(folder):
            if name.startswith('.') and name.endswith(_TMP_SUFFIX):
                os.remove(osp.join(folder, name))
                removed += 1
    return removed


def _generated_files(out_dir):
    """Paths of files this module writes that exist in ``out_dir``."""
    paths = [osp.join(out_dir, n) for n in ('meta.json', 'labels.csv')]
    for sub in ('images', 'masks'):
        folder = osp.join(out_dir, sub)
        if osp.isdir(folder):
            paths += [osp.join(folder, n) for n in os.listdir(folder)
                      if n.endswith('.png') and n[:-4].isdigit()]
    return [p for p in paths if osp.isfile(p)]


# ---------------------------------------------------------------------- meta
def dataset_settings(seed: int, size: int, probe: str,
                     options: Options = None) -> Dict[str, object]:
    """Settings that identify a set; a rerun must match them exactly.

    A set made with difficulty options also records them
    (``difficulty``: the preset name and every option); a default set has
    no ``difficulty`` key (the layout of earlier versions).

    Args:
        seed (int): Set seed.
        size (int): Image side in pixels.
        probe (str): ``'convex'`` or ``'linear'``.
        options (str | dict | SimOptions, optional): Difficulty options.

    Returns:
        dict: ``seed``, ``size``, ``probe``, ``generator_version`` and, with
        options, ``difficulty``.
    """
    settings = dict(seed=int(seed), size=int(size), probe=str(probe),
                    generator_version=GENERATOR_VERSION)
    opts = _resolve(options)
    if not opts.is_default:
        settings['difficulty'] = opts.to_dict()
    return settings


def _resolve(options):
    return options if isinstance(options, SimOptions) \
        else resolve_options(options)


def build_meta(num: int, seed: int, size: int, probe: str,
               options: Options = None) -> Dict[str, object]:
    """The ``meta.json`` document of a set.

    Args:
        num (int): Number of images.
        seed (int): Set seed.
        size (int): Image side in pixels.
        probe (str): ``'convex'`` or ``'linear'``.
        options (str | dict | SimOptions, optional): Difficulty options.

    Returns:
        dict: Generator, settings (:func:`dataset_settings`), classes, ids,
        palette, layout, label columns, seed rule and imaging parameters.
    """
    geometry = make_geometry(probe, size)
    imaging = geometry.settings()
    imaging.update(scatterers_per_wavelength2=SCATTERER_DENSITY,
                   dynamic_range_db=DYNAMIC_RANGE_DB,
                   parenchyma_median_gray=MEDIAN_GRAY,
                   electronic_noise_db=NOISE_DB)
    opts = _resolve(options)
    extra = {}
    if not opts.is_default:
        imaging['dynamic_range_db'] = list(opts.dynamic_range_db)
        extra = dict(
            difficulty=opts.to_dict(),
            difficulty_doc='anaus_mm.datasets.simulation.difficulty; '
            'per-image settings and lesion echo patterns in labels.csv')
    return dict(
        generator='anaus_mm.datasets.simulation (pymust SIMUS)',
        generator_version=GENERATOR_VERSION,
        settings=dataset_settings(seed, size, probe, opts),
        num=int(num),
        classes=list(ANATOMY_CLASSES),
        class_ids={name: i for i, name in enumerate(ANATOMY_CLASSES)},
        palette=[list(c) for c in ANATOMY_PALETTE],
        background_id=0,
        lesion_classes=list(CLASSES_LESION),
        lesion_class_rule='label_id = index % 2 (benign, malignant)',
        layout=dict(images='images/{index:06d}.png',
                    masks='masks/{index:06d}.png', labels='labels.csv'),
        label_columns=list(LABEL_COLUMNS),
        image_seed_rule='SeedSequence([seed, index]) -> uint32',
        imaging=imaging, **extra)


def _short(value):
    """A setting for an error line (the preset name of difficulty
    options; 'default' for none)."""
    if value is None:
        return "'default'"
    if isinstance(value, dict) and 'preset' in value:
        return f"{value['preset']!r} options"
    return repr(value)


def _check_existing(out_dir, settings, overwrite):
    """Refuse to mix sets made with other settings (unless overwrite)."""
    meta_path = osp.join(out_dir, 'meta.json')
    problem = None
    if osp.exists(meta_path):
        try:
            with open(meta_path) as f:
                old = json.load(f).get('settings', {})
        except (OSError, ValueError, AttributeError) as exc:
            problem = f'unreadable meta.json ({exc})'
        else:
            if isinstance(old, dict):
                old.setdefault('difficulty', None)  # a default set
            settings = dict(settings)
            settings.setdefault('difficulty', None)
            diff = [f'{k}={_short(old.get(k))} (requested {_short(v)})'
                    for k, v in settings.items() if old.get(k) != v]
            if diff:
                problem = 'it was generated with ' + ', '.join(diff)
    elif _generated_files(out_dir):
        problem = 'it holds images/masks but no meta.json'
    if problem is None:
        return
    if not overwrite:
        raise SimulationError(
            f'output directory {out_dir} cannot be reused: {problem}; '
            'use another directory or overwrite=True (--overwrite)')
    for path in _generated_files(out_dir):
        os.remove(path)


def _prepare_out_dir(out_dir):
    try:
        for sub in ('', 'images', 'masks'):
            os.makedirs(osp.join(out_dir, sub), exist_ok=True)
        probe_fd, probe_path = tempfile.mkstemp(prefix='.write_check.',
                                                suffix=_TMP_SUFFIX,
                                                dir=osp.join(out_dir,
                                                             'images'))
        os.close(probe_fd)
        os.remove(probe_path)
    except OSError as exc:
        raise SimulationError(
            f'cannot write to output directory {out_dir}: '
            f'{exc.strerror or exc}') from None


# -------------------------------------------------------------------- worker
def _simulate_and_write(out_dir, index, seed, size, probe, options=None):
    """Simulate image ``index`` and write image + mask atomically."""
    start = time.perf_counter()
    image, mask, labels = simulate_one(index, seed, size, probe, options)
    name = image_name(index)
    atomic_write_image(osp.join(out_dir, 'images', name), image)
    atomic_write_image(osp.join(out_dir, 'masks', name), mask)
    return index, labels, time.perf_counter() - start


# ----------------------------------------------------------------------- api
def simulate_dataset(out_dir: str,
                     num: int,
                     seed: int = 0,
                     workers: int = 1,
                     size: int = 256,
                     probe: str = 'convex',
                     overwrite: bool = False,
                     progress: bool = True,
                     difficulty: Options = None) -> Dict[str, object]:
    """Generate (or complete) a simulated ultrasound dataset.

    Args:
        out_dir (str): Output directory (created if needed).
        num (int): Number of images; a rerun with a larger ``num`` and the
            same settings extends the set, a smaller one trims it.
        seed (int): Set seed (>= 0); image ``i`` uses a seed derived from
            ``(seed, i)``, so files do not depend on ``workers``.
        workers (int): Processes; 1 simulates in the calling process.
        size (int): Image side in pixels.
        probe (str): ``'convex'`` (sector) or ``'linear'`` (rectangle).
        overwrite (bool): Delete a set made with other settings instead of
            refusing to touch it.
        progress (bool): Print progress lines to stdout.
        difficulty (str | dict | SimOptions, optional): Difficulty options
            -- a preset name (``'hard'``), a dict
            (``{'preset': 'hard', 'gain_db': 3.0}``) or
            :class:`~.difficulty.SimOptions`; None / ``'default'``: the
            original simulator (byte-identical files). Recorded in
            ``meta.json``; a folder is never extended with other options.

    Returns:
        dict: Summary with ``out_dir``, ``num``, ``generated``, ``skipped``,
        ``seconds``, ``images_per_second`` (of generated images),
        ``label_counts``, ``meta`` and ``labels`` (paths).

    Raises:
        SimulationError: Bad arguments, an output directory made with other
            settings (without ``overwrite``) or one that is not writable.
    """
    for name, value, low in (('num', num, 1), ('workers', workers, 1),
                             ('seed', seed, 0), ('size', size, 32)):
        if isinstance(value, bool) or int(value) != value or value < low:
            raise SimulationError(f'{name} must be an integer >= {low}, '
                                  f'got {value!r}')
    if probe not in PROBES:
        raise SimulationError(f'probe must be one of {sorted(PROBES)}, '
                              f'got {probe!r}')
    num, workers, seed, size = int(num), int(workers), int(seed), int(size)
    opts = _resolve(difficulty)
    options = None if opts.is_default else opts
    out_dir = osp.abspath(out_dir)
    _prepare_out_dir(out_dir)
    _check_existing(out_dir, dataset_settings(seed, size, probe, opts),
                    overwrite)
    atomic_write_text(osp.join(out_dir, 'meta.json'),
                      json.dumps(build_meta(num, seed, size, probe, opts),
                                 indent=2) + '\n')
    _remove_temp_files(out_dir)
    for path in _generated_files(out_dir):  # trim a set made with more
        stem = osp.basename(path)[:-4]
        if path.endswith('.png') and stem.isdigit() and int(stem) >= num:
            os.remove(path)

    def done(i):
        return all(osp.exists(osp.join(out_dir, sub, image_name(i)))
                   for sub in ('images', 'masks'))

    todo = [i for i in range(num) if not done(i)]
    pending = set(todo)
    labels = {i: describe_case(i, seed, size, probe, options)
              for i in range(num) if i not in pending}
    start = time.perf_counter()
    if progress:
        print(f'[simulate] {out_dir}: {len(todo)} to simulate, '
              f'{num - len(todo)} already done ({size}x{size}, {probe}, '
              f'seed {seed}, {workers} worker(s)'
              + ('' if options is None else f', {opts.preset} options')
              + ')', flush=True)
    bar = tqdm(total=len(todo), disable=not (progress and todo),
               file=sys.stdout, desc='[simulate]', unit='img',
               mininterval=1.0)
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            labels[i] = _simulate_and_write(out_dir, i, seed, size, probe,
                                            options)[1]
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo))) as ex:
            futures = [ex.submit(_simulate_and_write, out_dir, i, seed, size,
                                 probe, options) for i in todo]
            try:
                for fut in as_completed(futures):
                    i, lab, _ = fut.result()
                    labels[i] = lab
                    bar.update()
            except BaseException:
                for fut in futures:
                    fut.cancel()
                raise
    bar.close()
    seconds = time.perf_counter() - start

    labels_path = osp.join(out_dir, 'labels.csv')
    atomic_write_text(labels_path, _labels_csv(
        labels, LABEL_COLUMNS if options is None
        else LABEL_COLUMNS + DIFFICULTY_COLUMNS))
    counts = {c: sum(1 for v in labels.values() if v['label'] == c)
              for c in CLASSES_LESION}
    return dict(out_dir=out_dir, num=num, generated=len(todo),
                skipped=num - len(todo), seconds=round(seconds, 3),
                images_per_second=round(len(todo) / seconds, 4)
                if todo and seconds > 0 else None,
                label_counts=counts, meta=osp.join(out_dir, 'meta.json'),
                labels=labels_path)


def _labels_csv(labels, columns=LABEL_COLUMNS):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator='\n')
    writer.writeheader()
    for i in sorted(labels):
        row = dict(labels[i], filename=image_name(i))
        writer.writerow({k: row.get(k, '') for k in columns})
    return buf.getvalue()
