"""Views of the web app, one module per section; :mod:`hub.web.ui.urls` wires them."""
