"""Model results as DICOM: a SEG for masks and a TID 1500 Comprehensive 3D SR for measurements
and findings, new series in the source study, written atomically.

Entry points: :func:`write_results` (validate, build, write), :func:`build_seg`,
:func:`build_sr` and :func:`result_uid`.
"""

from hub.results.seg import build_seg
from hub.results.sr import build_sr
from hub.results.uids import result_uid
from hub.results.validate import validate_result
from hub.results.writer import ResultFiles, write_results

__all__ = ["ResultFiles", "build_seg", "build_sr", "result_uid", "validate_result", "write_results"]
