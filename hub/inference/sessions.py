"""ONNX Runtime sessions: one per model per process, created lazily and reused."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import onnxruntime as ort

from hub.errors import InferenceError
from hub.settings import InferenceOptions, get_settings

logger = logging.getLogger(__name__)

_sessions: dict[tuple[str, str], ort.InferenceSession] = {}
_lock = threading.Lock()


def resolve_providers(options: InferenceOptions) -> list[str]:
    """The execution providers to use: CUDA first when available under ``auto``."""
    available = ort.get_available_providers()
    if options.providers == "auto":
        wanted = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return [p for p in wanted if p in available] or ["CPUExecutionProvider"]
    missing = [p for p in options.providers if p not in available]
    if missing:
        raise InferenceError(
            f"ONNX Runtime provider(s) {missing} are not available (have {available})",
            "set [inference] providers to available ones, or 'auto'",
        )
    return list(options.providers)


def get_session(model_path: Path, sha256: str) -> ort.InferenceSession:
    """The process's session for a model file, created on first use.

    Keyed by path and checksum, so a replaced model file gets a new session.
    """
    key = (str(model_path), sha256)
    session = _sessions.get(key)
    if session is not None:
        return session
    with _lock:
        session = _sessions.get(key)
        if session is None:
            options = get_settings().inference
            so = ort.SessionOptions()
            so.intra_op_num_threads = options.intra_op_threads
            so.inter_op_num_threads = options.inter_op_threads
            so.log_severity_level = 3
            providers = resolve_providers(options)
            try:
                session = ort.InferenceSession(str(model_path), so, providers=providers)
            except Exception as exc:  # onnxruntime raises its own exception types
                raise InferenceError(
                    f"ONNX Runtime cannot load {model_path}: {exc}",
                    "run 'pacs-hub plugins check' and reinstall the plugin",
                ) from None
            logger.info("created session for %s with %s", model_path.name, providers)
            _sessions[key] = session
    return session


def clear_sessions() -> None:
    """Drop all cached sessions (tests, settings changes)."""
    with _lock:
        _sessions.clear()


def session_count() -> int:
    """How many sessions this process holds."""
    return len(_sessions)
