"""Check that the installed OpenMMLab packages are in supported ranges."""
from importlib import metadata
from typing import Callable, Dict, Optional, Tuple

from packaging.version import Version

# distribution name -> (import name, minimum inclusive, maximum exclusive)
SUPPORTED = {
    'mmengine': ('mmengine', '0.10.0', '1.0.0'),
    'mmcv': ('mmcv', '2.0.0', '2.2.0'),
    'mmpretrain': ('mmpretrain', '1.2.0', '1.3.0'),
    'mmsegmentation': ('mmseg', '1.2.0', '1.3.0'),
}


def _installed_version(dist):
    candidates = [dist]
    if dist == 'mmcv':
        candidates = ['mmcv', 'mmcv-lite', 'mmcv-full']
    for name in candidates:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_dependencies(
    supported: Optional[Dict[str, Tuple[str, str, str]]] = None,
    version_getter: Callable[[str], Optional[str]] = _installed_version
) -> None:
    """Raise ImportError naming the package and the range when out of range.

    Args:
        supported (Dict[str, Tuple[str, str, str]], optional): Override of
            :data:`SUPPORTED` (tests).
        version_getter (Callable[[str], Optional[str]]): Maps a distribution
            name to its installed version string, or None when it is not
            installed.

    Raises:
        ImportError: Listing every missing or out-of-range package.
    """
    supported = SUPPORTED if supported is None else supported
    problems = []
    for dist, (_, low, high) in supported.items():
        found = version_getter(dist)
        wanted = f'>={low},<{high}'
        if found is None:
            problems.append(f'{dist} is not installed (anaus_mm needs '
                            f'{dist}{wanted})')
        elif not Version(low) <= Version(found) < Version(high):
            problems.append(f'{dist}=={found} is installed but anaus_mm '
                            f'needs {dist}{wanted}')
    if problems:
        raise ImportError(
            'anaus_mm: unsupported dependency versions: ' +
            '; '.join(problems) +
            '. Install the pins of requirements/runtime.txt '
            '(make test sets up .venv/ with them).')
