"""``pacs-hub infer`` (being written)."""


def infer() -> None:
    """Run one model on DICOM files or folders."""
