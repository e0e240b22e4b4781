"""Registration into the existing mmpretrain / mmseg registries."""
import subprocess
import sys
import textwrap


def test_custom_imports_registers_into_existing_registries(tmp_path):
    """A config's custom_imports alone makes our types buildable in the
    mmpretrain and mmseg scopes (fresh interpreter, nothing imported)."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text("custom_imports = dict(imports=['anaus_mm'], "
                   "allow_failed_imports=False)\n")
    code = textwrap.dedent(f"""
        from mmengine.config import Config
        cfg = Config.fromfile({str(cfg)!r})
        import sys
        assert 'anaus_mm' in sys.modules
        from mmpretrain.registry import DATASETS as PD, MODELS as PM
        from mmseg.registry import DATASETS as SD, MODELS as SM
        assert PM.get('ANAUS').__module__.startswith('anaus_mm')
        assert PM.get('AnatomyAlignmentLoss') is not None
        assert PD.get('USAnatomyDataset') is not None
        assert SM.get('LPSAM').__module__.startswith('anaus_mm')
        assert SD.get('BUSIDataset') is not None
        # no new scope: our modules live in the mmpretrain / mmseg registries
        assert PM.scope == 'mmpretrain' and SM.scope == 'mmseg'
        print('ok')
    """)
    res = subprocess.run([sys.executable, '-c', code], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith('ok')


def test_unknown_type_message_names_type_and_registry():
    from mmpretrain.registry import MODELS
    import pytest
    from anaus_mm.engine.runner_utils import (UnknownTypeError,
                                              readable_registry_errors)
    from anaus_mm.utils.errors import AnausError
    from mmengine.registry import DefaultScope
    # (another test may have left mmseg as the default scope)
    with pytest.raises(UnknownTypeError) as info, \
            DefaultScope.overwrite_default_scope('mmpretrain'):
        with readable_registry_errors():
            MODELS.build(dict(type='ANAUSS'))
    assert 'ANAUSS' in str(info.value)
    assert 'mmpretrain::model registry' in str(info.value)
    # an ordinary KeyError for Python users, one line for the CLIs
    assert isinstance(info.value, (KeyError, AnausError))
