"""pacs-ai-hub: an AI inference hub for PACS.

DICOM comes in, series are routed to model plugins, ONNX Runtime runs them, and the results
go out again as standard DICOM SEG and SR objects. See ``docs/`` and ``../shared/ARCHITECTURE.md``.
"""

__version__ = "0.1.0"
