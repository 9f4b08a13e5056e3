"""DICOMweb under ``/dicomweb``: QIDO-RS, WADO-RS (with rendered and thumbnail) and STOW-RS.

Enough for OHIF and ``dicomweb-client`` to browse, load and store studies, the hub's own
SEG/SR results included. :mod:`hub.web.dicomweb.routes` assembles the routers; every route
needs ``view_studies`` (STOW-RS: ``run_inference``) through :mod:`hub.web.auth`.
"""
