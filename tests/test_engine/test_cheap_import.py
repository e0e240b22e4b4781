"""``import anaus_mm`` is cheap; registration is lazy (mmengine's registry
``locations``) and the compatibility fixes still come before mmseg."""
import subprocess
import sys
import textwrap

HEAVY = ('torch', 'mmengine', 'mmcv', 'mmpretrain', 'mmseg')


def _run(code: str, timeout: int = 300) -> str:
    res = subprocess.run([sys.executable, '-c', textwrap.dedent(code)],
                         capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_simulator_and_package_import_without_torch_or_openmmlab():
    out = _run(f"""
        import sys
        import anaus_mm
        import anaus_mm.datasets.simulation as sim
        from anaus_mm.datasets import simulation
        from anaus_mm.datasets.simulation import simulate_one
        assert callable(sim.simulate_dataset) and simulation is sim
        assert anaus_mm.__version__
        loaded = [m for m in {HEAVY!r} if m in sys.modules]
        assert loaded == [], loaded
        # the package's names are still there, loaded on access
        import anaus_mm.datasets as datasets
        assert 'BUSIDataset' in datasets.__all__ and 'torch' not in sys.modules
        print('ok')
    """)
    assert out.strip() == 'ok'


def test_lazy_registration_in_any_import_order():
    """mmpretrain's registry imported and searched before anaus_mm, mmseg
    after it: both find our types; importing mmseg / mmpretrain alone does
    not import our modules; the stand-in is in place before mmseg."""
    out = _run("""
        import sys
        from mmpretrain.registry import MODELS as PM
        assert PM.get('BYOL') is not None  # registry already imported
        import anaus_mm
        import mmseg.models  # needs the mmcv.ops stand-in (mmcv-lite)
        from mmseg.registry import MODELS as SM, TRANSFORMS as ST
        assert not any(m.startswith(('anaus_mm.models', 'anaus_mm.datasets'))
                       for m in sys.modules)
        assert PM.get('ANAUS').__module__.startswith('anaus_mm')
        assert SM.get('LPSAM').__module__.startswith('anaus_mm')
        assert SM.get('BoxPromptHead') is not None
        assert ST.get('RandomGamma').__module__.startswith('anaus_mm')
        from mmengine.runner.checkpoint import CheckpointLoader
        from anaus_mm import compat
        assert CheckpointLoader._schemes[''] is compat.load_from_local
        print('ok')
    """)
    assert out.strip().endswith('ok')


def test_register_locations_cover_every_registered_module():
    """Importing every module of the package registers nothing that
    ``register_all_modules`` (the lazy locations) did not."""
    out = _run("""
        import importlib, pkgutil
        import anaus_mm
        anaus_mm.register_all_modules()
        import mmengine.registry, mmpretrain.registry, mmseg.registry
        from mmengine.registry import Registry

        def ours():
            found = set()
            for mod in (mmengine.registry, mmpretrain.registry,
                        mmseg.registry):
                for name, reg in vars(mod).items():
                    if isinstance(reg, Registry):
                        for key, obj in reg._module_dict.items():
                            if getattr(obj, '__module__', '').startswith(
                                    'anaus_mm'):
                                found.add((mod.__name__, name, key))
            return found

        lazy = ours()
        assert ('mmseg.registry', 'MODELS', 'LPSAM') in lazy
        for info in pkgutil.walk_packages(anaus_mm.__path__, 'anaus_mm.'):
            try:
                importlib.import_module(info.name)
            except ImportError as e:  # optional extras
                print('skipped', info.name, e)
        missing = ours() - lazy
        assert not missing, f'add their modules to REGISTER_LOCATIONS: ' \\
            f'{sorted(missing)}'
        print('ok')
    """)
    assert out.strip().endswith('ok')
