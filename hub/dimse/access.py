"""Who may open an association with the SCP: decided when the A-ASSOCIATE-RQ arrives.

The called AE title must be ours; with ``[dicom] require_known_callers`` the calling AE title
must be a ``[[peers]]`` one; below the ``[storage] min_free_mb`` watermark every association is
rejected as transient (local limit exceeded), so senders retry later instead of failing.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.settings import Settings
from hub.storage import files
from hub.storage.errors import OutOfSpaceError

#: A-ASSOCIATE-RJ (result, source, diagnostic), PS3.8 9.3.4.
CALLED_AE_NOT_RECOGNISED = (0x01, 0x01, 0x07)
CALLING_AE_NOT_RECOGNISED = (0x01, 0x01, 0x03)
LOCAL_LIMIT_EXCEEDED = (0x02, 0x03, 0x02)


@dataclass
class Refusal:
    """Why an association request is rejected, and the A-ASSOCIATE-RJ to send."""

    reason: str
    rsd: tuple[int, int, int]


def access_refusal(called_ae: str, calling_ae: str, settings: Settings) -> Refusal | None:
    """Why an association from ``calling_ae`` to ``called_ae`` must be rejected, or None."""
    if called_ae.strip() != settings.ae_title:
        return Refusal(f"called AE {called_ae!r} is not ours", CALLED_AE_NOT_RECOGNISED)
    if settings.dicom.require_known_callers and calling_ae.strip() not in {
        peer.ae_title for peer in settings.peers
    }:
        return Refusal(
            f"calling AE {calling_ae!r} is not a [[peers]] AE title", CALLING_AE_NOT_RECOGNISED
        )
    try:
        files.check_free_space()
    except OutOfSpaceError as exc:
        return Refusal(exc.cause, LOCAL_LIMIT_EXCEEDED)
    return None
