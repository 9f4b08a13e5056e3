"""Series -> volume loading, ONNX Runtime sessions and the model runner.

Public entry points: :func:`load_series`, :func:`check_acceptance`, :func:`run_model`.
This package knows nothing of networking, HTTP or the database.
"""

from hub.inference.acceptance import check_acceptance, refusal
from hub.inference.runner import Outcome, run_model
from hub.inference.sessions import clear_sessions, get_session
from hub.inference.volume import collect_files, load_series

__all__ = [
    "Outcome",
    "check_acceptance",
    "clear_sessions",
    "collect_files",
    "get_session",
    "load_series",
    "refusal",
    "run_model",
]
