"""Accounts: roles (Django groups with the hub's permissions) and personal API tokens.

The web app (Django session) and the API (``Authorization: Bearer`` tokens) authenticate the
same Django users; what a request may do is the user's role permissions, narrowed for a token
by its scopes (``read``, ``infer``, ``admin``). Tokens are stored as SHA-256 digests only.
"""
