"""Simulated ultrasound images with anatomy masks (pymust SIMUS).

Plain numpy / scipy / OpenCV / pymust -- importing this package does not
import mmseg or mmpretrain. Main entry points:

* :func:`simulate_dataset` -- write ``images/``, ``masks/``, ``labels.csv``
  and ``meta.json`` (resumable, parallel, deterministic per seed);
* :func:`simulate_one` -- one ``(image, mask, labels)`` triple;
* :func:`simulate_case` -- the same plus the linear envelope on the polar
  beamforming grid (for physics checks).
"""
from .geometry import PROBES, ProbeGeometry, make_geometry
from .imaging import (SimulationResult, describe_case, image_seed,
                      simulate_case, simulate_one)
from .phantom import ANATOMY_CLASSES, ANATOMY_PALETTE, CLASSES_LESION
from .writer import (GENERATOR_VERSION, LABEL_COLUMNS, SimulationError,
                     build_meta, simulate_dataset)

__all__ = [
    'ANATOMY_CLASSES', 'ANATOMY_PALETTE', 'CLASSES_LESION',
    'GENERATOR_VERSION', 'LABEL_COLUMNS', 'PROBES', 'ProbeGeometry',
    'SimulationError', 'SimulationResult', 'build_meta', 'describe_case',
    'image_seed', 'make_geometry', 'simulate_case', 'simulate_dataset',
    'simulate_one'
]
