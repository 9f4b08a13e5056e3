"""``pacs-hub up`` (being written)."""


def up() -> None:
    """Start everything on one machine with embedded defaults."""
