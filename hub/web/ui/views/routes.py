"""Routes and peers (Admin): the active rules, each series' routing decisions, C-ECHO a peer.

The C-ECHO runs ``pacs-hub echo PEER`` in a child process: the web layer never imports
:mod:`hub.dimse` (STYLE.md rule 9), and the child uses the same settings (environment and
``PACS_HUB_CONFIG``) as this process.
"""

from __future__ import annotations

import subprocess
import sys

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from hub.routing.models import RoutingDecision
from hub.settings import get_settings
from hub.storage.models import Series
from hub.web.ui import audit
from hub.web.ui.access import require
from hub.web.ui.forms import EchoForm

PAGE_SIZE = 20
ECHO_TIMEOUT = 5.0


@require_GET
@require("manage_routes")
def routes(request: HttpRequest) -> HttpResponse:
    """The configured peers and routes, and recent series with their routing decisions."""
    settings = get_settings()
    page = Paginator(Series.objects.all(), PAGE_SIZE).get_page(request.GET.get("page") or 1)
    decisions: dict[int, list[RoutingDecision]] = {}
    for decision in RoutingDecision.objects.filter(series__in=list(page.object_list)).order_by(
        "series_id", "run", "id"
    ):
        decisions.setdefault(decision.series_id, []).append(decision)
    series = [
        {"series": s, "decisions": decisions.get(s.pk, []),
         "runs": sorted({d.run for d in decisions.get(s.pk, [])})}
        for s in page.object_list
    ]
    return render(request, "ui/routes.html", {
        "peers": settings.peers, "routes": settings.routes,
        "ae_title": settings.ae_title, "dicom_port": settings.dicom_port,
        "require_known_callers": settings.dicom.require_known_callers,
        "page": page, "series": series,
    })


def run_echo(peer: str, timeout: float = ECHO_TIMEOUT) -> tuple[bool, str]:
    """``pacs-hub echo PEER`` in a child process: (ok, its one-line answer)."""
    command = [sys.executable, "-m", "hub.cli.main", "echo", peer, "--timeout", f"{timeout:g}"]
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, peer checked against settings
            command, capture_output=True, text=True, timeout=timeout + 20, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"no answer within {timeout + 20:g} s"
    lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines()]
    # the CLI's own answer: "<peer>: echo OK in N ms", or "error: ..." and "fix: ..." lines
    # (pynetdicom's log lines in between are left out)
    answer = [line for line in lines if line.startswith(("error:", "fix:"))]
    if done.returncode == 0 or not answer:
        answer = [line for line in done.stdout.splitlines() if line.strip()][-1:]
    return done.returncode == 0, " ".join(answer) or f"exit status {done.returncode}"


@require_POST
@require("manage_routes")
def echo(request: HttpRequest) -> HttpResponse:
    """C-ECHO a configured peer and show the result."""
    form = EchoForm(request.POST)
    names = {p.name for p in get_settings().peers}
    if not form.is_valid() or form.cleaned_data["peer"] not in names:
        messages.error(request, "Choose one of the configured peers.")
        return HttpResponseRedirect(reverse("ui:routes"))
    name = form.cleaned_data["peer"]
    ok, text = run_echo(name)
    audit.record(request, audit.Action.PEER_ECHOED, name, ("OK: " if ok else "failed: ") + text)
    (messages.success if ok else messages.error)(request, f"C-ECHO {name}: {text}")
    return HttpResponseRedirect(reverse("ui:routes") + "#peers")
