"""The ``/dicomweb`` router: QIDO-RS, WADO-RS, rendered resources and STOW-RS together."""

from __future__ import annotations

from fastapi import APIRouter

from hub.web.dicomweb import qido, rendered, stow, wado
from hub.web.dicomweb.common import PREFIX

router = APIRouter(prefix=PREFIX)
router.include_router(qido.router)
router.include_router(rendered.router)  # before wado: .../frames/{n}/rendered is more specific
router.include_router(wado.router)
router.include_router(stow.router)
