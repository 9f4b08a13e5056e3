"""Login, logout, password change, and personal API tokens."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from hub.accounts import services
from hub.accounts.models import ApiToken
from hub.errors import HubError
from hub.web.ui import audit, throttle
from hub.web.ui.access import can, require
from hub.web.ui.forms import TokenForm


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """``/``: the worklist for a logged-in user, else the login page."""
    if request.user.is_authenticated:
        return redirect("ui:worklist")
    return redirect(f"{reverse_lazy('login')}?next=/worklist/")


class LoginView(auth_views.LoginView):
    """Django's login, refused with 429 while the user name or address is locked
    (:mod:`hub.web.ui.throttle`)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        """Check the lock before the form is validated, i.e. before any password check."""
        form_class = self.get_form_class()
        name_field = form_class(request).fields["username"]
        username = name_field.to_python(request.POST.get("username", ""))
        lock = throttle.sign_in_lock(username, audit.client_ip(request))
        if lock is None:
            return super().post(request, *args, **kwargs)
        audit.record(request, audit.Action.LOGIN_THROTTLED, username, lock.detail())
        now = timezone.now()
        form = form_class(request, initial={"username": username})
        response = self.render_to_response(
            self.get_context_data(form=form, throttled=lock.message(now)), status=429
        )
        response["Retry-After"] = str(lock.retry_after(now))
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        audit.record(self.request, audit.Action.PASSWORD_CHANGED, self.request.user.get_username())
        return response


@require()
def tokens(request: HttpRequest) -> HttpResponse:
    """Own tokens (all tokens for ``manage_users``), and the form to create one."""
    return render(request, "ui/tokens.html", _token_context(request, TokenForm()))


def _token_context(request: HttpRequest, form: TokenForm, **extra: object) -> dict[str, object]:
    everyone = can(request.user, "manage_users")
    query = ApiToken.objects.select_related("user")
    if not everyone:
        query = query.filter(user=request.user)
    return {"tokens": query, "everyone": everyone, "form": form, **extra}


@require_POST
@require()
def token_create(request: HttpRequest) -> HttpResponse:
    """Create a token; the plain value is in this response only (never stored, never again)."""
    form = TokenForm(request.POST)
    if not form.is_valid():
        return render(request, "ui/tokens.html", _token_context(request, form), status=400)
    token, plain = services.create_token(
        request.user, form.cleaned_data["name"], form.cleaned_data["scopes"],
        form.cleaned_data.get("expires_in_days"),
    )
    audit.record(request, audit.Action.TOKEN_CREATED, f"token {token.prefix}",
                 f"{token.name} (scopes {token.scopes})")
    response = render(request, "ui/tokens.html", _token_context(
        request, TokenForm(), new_token={"name": token.name, "value": plain}
    ))
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@require()
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    """Revoke one's own token (any token with ``manage_users``)."""
    owner = None if can(request.user, "manage_users") else request.user
    try:
        token = services.revoke_token(token_id, owner)
    except HubError:
        messages.error(request, f"No token {token_id} of yours to revoke.")
        return HttpResponseRedirect(reverse_lazy("ui:tokens"))
    audit.record(request, audit.Action.TOKEN_REVOKED, f"token {token.prefix}",
                 f"{token.name} of {token.user.get_username()}")
    messages.success(request, f"Token {token.name} ({token.prefix}) revoked.")
    return HttpResponseRedirect(reverse_lazy("ui:tokens"))
