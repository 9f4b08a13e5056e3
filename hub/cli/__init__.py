"""The ``pacs-hub`` command line. One module per command group; :mod:`hub.cli.main` wires them."""
