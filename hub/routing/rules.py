"""Evaluating ``[[routes]]`` against one series: which models run, and why.

Pure logic: the caller gives the series' facts (:class:`SeriesFacts`), the routes and the
model registry; nothing is read, stored or submitted here. Semantics:

* Routes are evaluated in order. A route matches when **every** ``match`` key matches (an
  empty ``match`` matches every series). The first matching route wins; with
  ``continue = true`` evaluation goes on to the next routes, and their models are added.
* A key is a DICOM keyword of the series (read from one representative instance header) or
  ``calling_ae`` / ``called_ae`` (the association that brought the series). Its pattern must
  match the **whole** value: ``re.fullmatch``, **case-sensitive** (DICOM code strings are
  upper case; write ``(?i)...`` for case-insensitive). A multi-valued attribute (ImageType,
  ...) matches when any one value matches. An absent or empty attribute is the empty string,
  so ``CHEST`` does not match it and ``.*`` does. Sequences and binary values never match.
* A route without ``models`` means every enabled model whose manifest accepts the series;
  each named model is checked against its own manifest too
  (:func:`hub.inference.acceptance.refusal`, the same check the runner makes). A model named
  by a route but not installed or disabled is skipped with that reason, never an error.
* Fallback: with **no** routes configured, the series goes to every enabled model that
  accepts it (results stay in the hub). With routes configured and **none** matching, the
  series is not routed ("no route matched"); add a last route with ``match = {}`` to catch
  every other series.
* A model chosen by two routes (``continue``) runs once, under the first route (its
  priority and job route), and its results go to **every** such route's ``send_to``: each
  later matching route that names the model (or, without ``models``, would pick it) is
  kept, in order, in :attr:`Plan.also_routes` and becomes the job's ``also_routes``; the
  outbox sends to the union of the peers (:mod:`hub.dimse.outbox`).

Values of patient-identifying attributes (group 0010, AccessionNumber, ...) never appear in
reasons: they read ``PatientID=[redacted]``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

from hub.errors import PluginError, UnknownModelError
from hub.inference.acceptance import refusal
from hub.logs import REDACTED, is_identifying
from hub.plugins.registry import Registry
from hub.routing.outcomes import Outcome
from hub.sdk.types import Series
from hub.settings import Route

__all__ = ["Decision", "Outcome", "Plan", "SeriesFacts", "evaluate", "match_route"]

#: The ``match`` keys that come from the index rather than the DICOM header.
AE_KEYS = ("calling_ae", "called_ae")


@dataclass(frozen=True)
class SeriesFacts:
    """What routing knows of one series: a representative header (no pixels) and the index."""

    series_instance_uid: str
    study_instance_uid: str
    #: One instance's header, read with ``stop_before_pixels``.
    header: Dataset
    calling_ae: str = ""
    called_ae: str = ""
    #: Images in the series (frames of multi-frame instances counted one by one).
    slice_count: int = 0

    def values(self, key: str) -> list[str]:
        """The values ``key`` has for this series (``[""]`` when absent or empty)."""
        if key == "calling_ae":
            return [self.calling_ae.strip()]
        if key == "called_ae":
            return [self.called_ae.strip()]
        try:
            value = self.header.get(key)
        except Exception:  # a malformed element: pydicom raises various errors when decoding
            return []
        if value is None:
            return [""]
        if isinstance(value, DicomSequence | bytes | bytearray):
            return []
        if isinstance(value, MultiValue | list | tuple):
            return [str(v).strip() for v in value] or [""]
        return [str(value).replace("\x00", "").strip()]

    def _text(self, keyword: str) -> str:
        values = self.values(keyword)
        return values[0] if values else ""

    def as_series(self) -> Series:
        """A pixel-less :class:`hub.sdk.types.Series` for the manifest acceptance check.

        Its volume has ``slice_count`` slices of size 0, so acceptance sees the slice count
        without any pixel data being loaded.
        """
        return Series(
            volume=np.empty((self.slice_count, 0, 0), dtype=np.float32),
            spacing=(0.0, 0.0, 0.0),
            orientation=(),
            positions=np.empty((0, 3)),
            normal=np.zeros(3),
            datasets=[self.header],
            slices=[],
            modality=self._text("Modality"),
            series_instance_uid=self.series_instance_uid,
            study_instance_uid=self.study_instance_uid,
            sop_class_uid=self._text("SOPClassUID"),
            body_part=self._text("BodyPartExamined"),
        )


@dataclass(frozen=True)
class Decision:
    """One step of the evaluation, in words an administrator can read."""

    outcome: Outcome
    reason: str
    route: str = ""
    model: str = ""
    #: Job priority label (``urgent``, ``normal``, ``off-peak``) of an accepted model.
    priority: str = "normal"


@dataclass
class Plan:
    """Every decision for one series, in evaluation order."""

    decisions: list[Decision] = field(default_factory=list)
    #: Models an administrator switched off, and why; skipped with that reason.
    switched_off: dict[str, str] = field(default_factory=dict)
    #: Per accepted model, the later matching routes (in order) that chose it too: it runs
    #: once, under its first route, and its results also go to these routes' ``send_to``.
    also_routes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def accepted(self) -> list[Decision]:
        """The models to run, each once, with their route and priority."""
        return [d for d in self.decisions if d.outcome == Outcome.ACCEPTED]

    def summary(self) -> str:
        """All reasons on one line, ``; ``-separated."""
        return "; ".join(d.reason for d in self.decisions)


def display(key: str, value: str) -> str:
    """``key=value`` for a reason text, with identifying values redacted."""
    if key not in AE_KEYS and is_identifying(key):
        return f"{key}={REDACTED}"
    return f"{key}={value or '(empty)'}"


def match_route(route: Route, facts: SeriesFacts) -> tuple[bool, str]:
    """Whether ``route`` matches ``facts``, and the reason naming each key and value."""
    matched: list[str] = []
    failed: list[str] = []
    for key, pattern in route.match.items():
        values = facts.values(key)
        hit = next((v for v in values if re.fullmatch(pattern, v)), None)
        if hit is not None:
            matched.append(display(key, hit))
        else:
            shown = "\\".join(values) if values else ""
            what = display(key, shown) if values else f"{key} (a sequence or binary value)"
            failed.append(f"{what} does not match {pattern!r}")
    if failed:
        return False, f"route {route.name} not matched: {', '.join(failed)}"
    return True, f"route {route.name} matched: {', '.join(matched) or 'no conditions'}"


def evaluate(
    facts: SeriesFacts,
    routes: Sequence[Route],
    registry: Registry,
    switched_off: Mapping[str, str] | None = None,
) -> Plan:
    """Evaluate ``routes`` in order against ``facts``; see the module docstring for the rules.

    ``switched_off``: models an administrator disabled and why (:func:`hub.jobs.toggles.
    switched_off`); they are skipped with that reason.
    """
    plan = Plan(switched_off=dict(switched_off or {}))
    chosen: dict[str, str] = {}
    if not routes:
        plan.decisions.append(
            Decision(
                Outcome.MATCHED,
                "no [[routes]] configured: every enabled model whose manifest accepts the "
                "series; results stay in the hub",
            )
        )
        _choose_models(plan, chosen, facts, registry, None, route="", priority="normal")
        return plan
    matched_any = False
    for route in routes:
        matched, reason = match_route(route, facts)
        plan.decisions.append(
            Decision(Outcome.MATCHED if matched else Outcome.NOT_MATCHED, reason, route.name)
        )
        if not matched:
            continue
        matched_any = True
        _choose_models(
            plan, chosen, facts, registry, route.models, route=route.name,
            priority=route.priority, send_to=route.send_to,
        )
        if not route.continue_:
            break
    if not matched_any:
        plan.decisions.append(
            Decision(
                Outcome.NOT_ROUTED,
                f"no route matched ({len(routes)} configured); not routed (add a last route "
                "with match = {} to catch every series)",
            )
        )
    return plan


def _choose_models(
    plan: Plan,
    chosen: dict[str, str],
    facts: SeriesFacts,
    registry: Registry,
    names: Sequence[str] | None,
    *,
    route: str,
    priority: str,
    send_to: Sequence[str] = (),
) -> None:
    """Add a decision per model of a matched route (``names`` None: every enabled model).

    A model an earlier route chose is not chosen again; this route is recorded in
    ``plan.also_routes`` so its ``send_to`` receives the results too.
    """
    if names is None:
        names = _enabled_names(registry)
        if not names:
            plan.decisions.append(
                Decision(Outcome.NOT_ROUTED, "no model is enabled; nothing to run", route)
            )
    series = facts.as_series()
    for name in names:
        if name in chosen:
            plan.decisions.append(_already_chosen(plan, name, chosen[name], route, send_to))
            continue
        if name in plan.switched_off:
            plan.decisions.append(
                Decision(Outcome.SKIPPED, f"model {name} skipped: switched off by an "
                         f"administrator: {plan.switched_off[name]}", route, name)
            )
            continue
        try:
            manifest = registry.get(name).manifest
        except UnknownModelError:
            plan.decisions.append(
                Decision(Outcome.SKIPPED, f"model {name} not installed", route, name)
            )
            continue
        except PluginError as exc:
            plan.decisions.append(
                Decision(Outcome.SKIPPED, f"model {name} skipped: {exc.cause}", route, name)
            )
            continue
        why = refusal(manifest, series)
        if why is not None:
            plan.decisions.append(
                Decision(Outcome.SKIPPED, f"model {name} skipped: {why}", route, name)
            )
            continue
        chosen[name] = route
        where = f"route {route}" if route else "no routes configured"
        plan.decisions.append(
            Decision(
                Outcome.ACCEPTED,
                f"model {name} accepts the series ({where}, priority {priority})",
                route, name, priority,
            )
        )


def _already_chosen(
    plan: Plan, name: str, first: str, route: str, send_to: Sequence[str]
) -> Decision:
    """The decision for a model an earlier route chose; records ``route`` as a delivery route."""
    reason = f"model {name} already chosen by route {first or '(fallback)'}"
    if route and route != first and route not in plan.also_routes.get(name, []):
        plan.also_routes.setdefault(name, []).append(route)
        reason += f"; its results also go to route {route}'s send_to"
        if not send_to:
            reason += " (none configured)"
    return Decision(Outcome.SKIPPED, reason, route, name)


def _enabled_names(registry: Registry) -> list[str]:
    """Names of the enabled models, each once, in load order."""
    return list(dict.fromkeys(m.manifest.name for m in registry.enabled()))
