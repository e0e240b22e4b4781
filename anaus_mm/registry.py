"""How anaus_mm reaches the OpenMMLab registries, without importing them.

anaus_mm defines no registry of its own: its models, datasets, transforms,
metrics and hooks register into the existing ``mmpretrain`` and ``mmseg``
registries (so configs keep ``default_scope='mmpretrain'`` / ``'mmseg'``).
``import anaus_mm`` imports neither torch nor OpenMMLab; it calls
:func:`install_import_hooks`, which arranges three things for the moment
OpenMMLab is actually used:

1. Right before ``mmseg`` or ``mmpretrain`` is imported, the dependency
   versions are checked and the compatibility fixes of :mod:`anaus_mm.compat`
   are installed (the ``mmcv.ops`` stand-in must exist before mmseg imports
   it); once ``mmengine.runner.checkpoint`` is imported, its local-file
   loader is the safe one.
2. Once ``mmseg.registry`` / ``mmpretrain.registry`` is imported, every
   registry in it gets :data:`REGISTER_LOCATIONS` appended to its import
   ``locations`` -- mmengine's own lazy mechanism (``Registry(...,
   locations=['mmseg.models'])``): the first time such a registry is
   searched, it imports its own modules and then ours, which register
   themselves. Nothing is imported before a registry is used.
3. Whatever of the above is already imported when anaus_mm is, is handled at
   once.

Steps 1 and 2 are a :class:`importlib.abc.MetaPathFinder` that watches five
module names, lets the normal finders find them and answers nothing once all
of them were seen. This is what keeps a config's
``custom_imports = dict(imports=['anaus_mm'])`` (and ``import anaus_mm`` in
a tool) sufficient. :func:`register_all_modules` does all of it eagerly, as
``mmseg.utils.register_all_modules`` does for mmseg.

Registries outside ``mmpretrain.registry`` and ``mmseg.registry`` (mmengine's
root registries, mmcv's) get no locations: a type that is looked up only
there before anything else of anaus_mm was used needs
:func:`register_all_modules` first.
"""
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from types import ModuleType
from typing import Callable, Dict, Optional, Sequence, Set

__all__ = [
    'REGISTER_LOCATIONS', 'REGISTRY_MODULES', 'install_import_hooks',
    'register_all_modules', 'install_compat', 'add_locations'
]

#: modules whose import registers every anaus_mm class (imported lazily by
#: the registries, or at once by :func:`register_all_modules`)
REGISTER_LOCATIONS = (
    'anaus_mm.datasets.transforms',
    'anaus_mm.datasets.us_datasets',
    'anaus_mm.engine',
    'anaus_mm.evaluation',
    'anaus_mm.models',
)
#: modules whose registries get :data:`REGISTER_LOCATIONS`
REGISTRY_MODULES = ('mmpretrain.registry', 'mmseg.registry')
#: packages before whose import the compatibility fixes are installed
COMPAT_BEFORE = ('mmpretrain', 'mmseg')
#: mmengine's checkpoint module; its local loader is replaced once imported
CHECKPOINT_MODULE = 'mmengine.runner.checkpoint'

_lock = threading.RLock()
_compat_installed = False


def install_compat() -> None:
    """Check the dependency versions and install :mod:`anaus_mm.compat`.

    Idempotent. Imports torch, mmcv and mmengine.

    Raises:
        ImportError: an OpenMMLab package outside the supported range.
    """
    global _compat_installed
    with _lock:
        if _compat_installed:
            return
        from .utils.version_check import check_dependencies
        check_dependencies()
        from . import compat
        compat.install()
        _compat_installed = True


def _install_checkpoint_loader(module: Optional[ModuleType] = None) -> None:
    """Route mmengine's local checkpoint loads through the safe loader."""
    from . import compat
    compat.install_checkpoint_loader()


def add_locations(registry_module: ModuleType,
                  locations: Sequence[str] = REGISTER_LOCATIONS) -> int:
    """Append ``locations`` to every mmengine ``Registry`` of a module.

    A registry that already imported its locations is marked to import
    again on its next search (its own modules are then already imported;
    only ours are new).

    Args:
        registry_module (ModuleType): e.g. ``mmseg.registry``.
        locations (Sequence[str]): module names to append.

    Returns:
        int: the number of registries that got new locations.
    """
    from mmengine.registry import Registry
    changed = 0
    for registry in vars(registry_module).values():
        if not isinstance(registry, Registry):
            continue
        missing = [loc for loc in locations if loc not in registry._locations]
        if not missing:
            continue
        # a new list: registries made without ``locations`` share the
        # default argument's list object
        registry._locations = list(registry._locations) + missing
        registry._imported = False
        changed += 1
    return changed


class _CallbackLoader(importlib.abc.Loader):
    """Delegates to a module's own loader and calls ``callback(module)``
    after the module was executed."""

    def __init__(self, loader: importlib.abc.Loader,
                 callback: Callable[[ModuleType], None]) -> None:
        self._loader = loader
        self._callback = callback

    def create_module(self, spec: importlib.machinery.ModuleSpec
                      ) -> Optional[ModuleType]:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # the module sees (and keeps) its own loader
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        self._callback(module)

    def __getattr__(self, name: str):
        return getattr(self._loader, name)


class _OpenMMLabImportHook(importlib.abc.MetaPathFinder):
    """Runs actions before / after the import of a few watched modules.

    Args:
        before (dict): module name → action run before the module is
            found (and imported).
        after (dict): module name → action run with the module right after
            it was executed.
    """

    def __init__(self, before: Dict[str, Callable[[], None]],
                 after: Dict[str, Callable[[ModuleType], None]]) -> None:
        self.before = dict(before)
        self.after = dict(after)
        self._busy: Set[str] = set()

    @property
    def done(self) -> bool:
        """Whether every watched module has been seen (the hook then only
        answers None; it stays in ``sys.meta_path``, because removing a
        finder while the import system iterates the list would skip the
        next one)."""
        return not self.before and not self.after

    def find_spec(self, fullname: str, path=None, target=None):
        """Run the "before" action; wrap the loader for an "after" one."""
        if fullname in self._busy or (fullname not in self.before
                                      and fullname not in self.after):
            return None
        self._busy.add(fullname)
        try:
            action = self.before.get(fullname)
            if action is not None:
                action()  # may raise (versions): the import fails with it
                del self.before[fullname]
            callback = self.after.get(fullname)
            if callback is None:
                return None  # the normal finders take over
            spec = importlib.util.find_spec(fullname)
        finally:
            self._busy.discard(fullname)
        if spec is None or spec.loader is None:
            return spec
        del self.after[fullname]
        spec.loader = _CallbackLoader(spec.loader, callback)
        return spec


_hook: Optional[_OpenMMLabImportHook] = None


def install_import_hooks() -> None:
    """Arrange compat fixes and lazy registration (see the module doc).

    Imports nothing; idempotent. Called by ``import anaus_mm``.
    """
    global _hook
    with _lock:
        if _hook is not None:
            return
        before: Dict[str, Callable[[], None]] = {}
        after: Dict[str, Callable[[ModuleType], None]] = {}
        for name in COMPAT_BEFORE:
            if name in sys.modules:
                install_compat()
            else:
                before[name] = install_compat
        if CHECKPOINT_MODULE in sys.modules:
            _install_checkpoint_loader()
        else:
            after[CHECKPOINT_MODULE] = _install_checkpoint_loader
        for name in REGISTRY_MODULES:
            if name in sys.modules:
                add_locations(sys.modules[name])
            else:
                after[name] = add_locations
        _hook = _OpenMMLabImportHook(before, after)
        if not _hook.done:
            sys.meta_path.insert(0, _hook)


def register_all_modules() -> None:
    """Install the compat fixes and register every anaus_mm module now.

    Eager counterpart of the lazy registration (like
    ``mmseg.utils.register_all_modules``); idempotent.
    """
    install_import_hooks()
    install_compat()
    for location in REGISTER_LOCATIONS:
        importlib.import_module(location)
