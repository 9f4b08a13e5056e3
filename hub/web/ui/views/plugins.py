"""Plugins and models: what is loaded, its manifest and findings, its jobs; enable/disable."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from hub.jobs import toggles
from hub.jobs.models import ModelToggle
from hub.plugins.manager import get_registry
from hub.plugins.registry import model_as_json
from hub.web.ui import audit
from hub.web.ui.access import require
from hub.web.ui.forms import ToggleForm
from hub.web.ui.stats import model_stats


@require_GET
@require("manage_plugins")
def plugins(request: HttpRequest) -> HttpResponse:
    """Every loaded model with its manifest, validation findings, switch and job statistics."""
    registry = get_registry()
    switched = {t.model_name: t for t in ModelToggle.objects.all()}
    names = list(dict.fromkeys(m.manifest.name for m in registry.models))
    stats = model_stats(names)
    models = []
    for loaded in registry.models:
        info = model_as_json(loaded)
        toggle = switched.get(loaded.manifest.name)
        models.append({
            "info": info,
            "valid": loaded.enabled,
            "switched_off": toggle is not None and not toggle.enabled,
            "toggle": toggle,
            "stats": stats.get(loaded.manifest.name),
        })
    plugin_findings = [f.as_json() for f in registry.findings if f.model is None]
    installed = set(names)
    orphans = [s for name, s in sorted(stats.items()) if name not in installed]
    return render(request, "ui/plugins.html", {
        "models": models, "plugin_findings": plugin_findings, "registry_ok": registry.ok,
        "orphans": orphans,
    })


@require_POST
@require("manage_plugins")
def toggle(request: HttpRequest) -> HttpResponse:
    """Enable or disable a model name; disabled models are refused by job submission."""
    form = ToggleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a model and enable or disable.")
        return HttpResponseRedirect(reverse("ui:plugins"))
    name = form.cleaned_data["model"]
    if name not in {m.manifest.name for m in get_registry().models}:
        messages.error(request, f"No model named {name} is installed.")
        return HttpResponseRedirect(reverse("ui:plugins"))
    enabled = form.cleaned_data["enabled"]
    reason = form.cleaned_data["reason"]
    toggles.set_enabled(name, enabled, changed_by=request.user.get_username(), reason=reason)
    audit.record(
        request, audit.Action.MODEL_ENABLED if enabled else audit.Action.MODEL_DISABLED, name,
        reason,
    )
    messages.success(request, f"Model {name} {'enabled' if enabled else 'disabled'}.")
    return HttpResponseRedirect(reverse("ui:plugins") + f"#model-{name}")
