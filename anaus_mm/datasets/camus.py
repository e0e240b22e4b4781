"""CAMUS: 2-D echocardiography of 500 patients, apical two- and four-chamber
views at end-diastole (ED) and end-systole (ES), with left-ventricle
endocardium, myocardium and left-atrium labels (Leclerc et al., IEEE TMI
38(9), 2019, https://doi.org/10.1109/TMI.2019.2900516; download:
https://humanheart-project.creatis.insa-lyon.fr/database/
#collection/6373703d73e9f0047faa1bc8).

Both public releases are read::

    database_nifti/patient0001/            (2023 release, NIfTI)
        patient0001_2CH_ED.nii.gz  patient0001_2CH_ED_gt.nii.gz
        patient0001_2CH_ES.nii.gz  ...  patient0001_4CH_ES_gt.nii.gz
        patient0001_2CH_half_sequence.nii.gz  Info_2CH.cfg ...
    training/patient0001/                  (2019 challenge release)
        patient0001_4CH_ED.mhd + .raw      patient0001_4CH_ED_gt.mhd + .raw

Label ids: 0 background, 1 LV endocardium (cavity), 2 LV myocardium,
3 left atrium. Patient folders are found anywhere under ``data_root``. A
patient without any ``_gt`` file (the 2019 test set) is skipped and logged;
a patient with some but not all of them is an error. Files are read by
:mod:`anaus_mm.datasets.medical_io` (nibabel / SimpleITK from the
``[medical]`` extra, else a built-in parser): configs use
``LoadUSImageFromFile`` and ``LoadMergedAnnotations``. Group = patient.
"""
import os
import os.path as osp
import re
from typing import Any, List, Sequence

from mmseg.registry import DATASETS

from .base_us import USSegDataset
from .utils import DatasetLayoutError, log, natural_key, raise_if_problems

_PATIENT = re.compile(r'^patient\d+$')


@DATASETS.register_module()
class CAMUSDataset(USSegDataset):
    """CAMUS multi-structure segmentation.

    Args:
        data_root (str): a folder holding ``patientXXXX`` folders at any
            depth (e.g. the release's root).
        views (tuple[str]): subset of ('2CH', '4CH').
        phases (tuple[str]): subset of ('ED', 'ES').
        **kwargs: see :class:`~anaus_mm.datasets.base_us.USSegDataset`.
    """

    METAINFO = dict(
        classes=('background', 'lv_endocardium', 'lv_myocardium',
                 'left_atrium'),
        palette=[[0, 0, 0], [255, 64, 64], [64, 200, 64], [64, 128, 255]])
    MASK_MODE = 'label'
    EXTENSIONS = ('.nii.gz', '.nii', '.mhd')

    def __init__(self,
                 views: Sequence[str] = ('2CH', '4CH'),
                 phases: Sequence[str] = ('ED', 'ES'),
                 **kwargs: Any) -> None:
        self.views = tuple(views)
        self.phases = tuple(phases)
        super().__init__(**kwargs)

    def _patients(self):
        found = []
        for root, dirs, _ in os.walk(self.data_root, followlinks=True):
            for d in list(dirs):
                if _PATIENT.match(d):
                    found.append(osp.join(root, d))
                    dirs.remove(d)
        return sorted(found, key=lambda p: natural_key(osp.basename(p)))

    def _find(self, folder, stem):
        for ext in self.EXTENSIONS:
            if osp.isfile(osp.join(folder, stem + ext)):
                return osp.join(folder, stem + ext)
        return None

    def find_samples(self) -> List[dict]:
        """List the labelled (patient, view, phase) images.

        Patients without any ground truth are skipped and logged.

        Returns:
            List[dict]: ``dict(img_path, seg_map_path, group_id)`` per image.

        Raises:
            DatasetLayoutError: A patient lacks some images or masks.
        """
        samples, problems, unlabelled = [], [], []
        for folder in self._patients():
            patient = osp.basename(folder)
            found = []
            for view in self.views:
                for phase in self.phases:
                    stem = f'{patient}_{view}_{phase}'
                    found.append((self._find(folder, stem),
                                  self._find(folder, stem + '_gt'), stem))
            if not any(gt for _, gt, _ in found):
                unlabelled.append(patient)
                continue
            for img, gt, stem in found:
                if img is None or gt is None:
                    problems.append(f'{osp.join(folder, stem)}: missing '
                                    f'{"image" if img is None else "mask"}')
                    continue
                samples.append(dict(img_path=img, seg_map_path=gt,
                                    group_id=patient))
        raise_if_problems(problems, self._name, DatasetLayoutError)
        if unlabelled:
            log(f'{self._name}: skipped {len(unlabelled)} patients without '
                f'ground truth (e.g. {unlabelled[0]})')
        return samples
