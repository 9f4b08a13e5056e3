"""``pacs-hub user`` and ``pacs-hub token`` through the CLI entry point."""

from __future__ import annotations

import json

from hub.cli.main import main

PASSWORD = "a-long-enough-password-42"


def test_user_and_token_lifecycle(accounts, capsys):
    assert main(["user", "create", "rad", "--role", "radiologist", "--password", PASSWORD]) == 0
    assert main(["user", "list", "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("["):])[0]["role"] == "radiologist"
    assert main(["token", "create", "rad", "--scopes", "read,infer", "--label", "pacs"]) == 0
    captured = capsys.readouterr()
    plain = captured.out.strip()
    assert plain.startswith("phub_") and "shown once" in captured.err
    assert main(["token", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["scopes"] == ["infer", "read"] and plain not in json.dumps(rows)
    assert main(["token", "revoke", str(rows[0]["id"])]) == 0
    from hub.accounts.services import authenticate_token

    assert authenticate_token(plain) is None


def test_cli_errors_name_cause_and_fix(accounts, capsys, monkeypatch):
    assert main(["user", "create", "x", "--role", "boss", "--password", PASSWORD]) == 2
    assert "unknown role 'boss'" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["user", "create", "x", "--role", "admin"]) == 2
    assert "pass --password" in capsys.readouterr().err
    assert main(["token", "create", "nobody", "--scopes", "read"]) == 2
    assert "no user named 'nobody'" in capsys.readouterr().err
    assert main(["token", "revoke", "999999"]) == 2
    assert "no token 999999" in capsys.readouterr().err
