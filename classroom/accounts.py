"""Account views: sign up, log in and out, password change and reset (Django's auth views)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse_lazy

from config.permissions import LEARNER, PUBLIC, permission
from config.ratelimit import client_ip, hit

LOGIN_LIMIT_PER_IP = 20  # attempts per 5 minutes
LOGIN_LIMIT_PER_USER = 10
SIGNUP_LIMIT = 10  # accounts per address per hour


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="For password resets. Never shown to others.")

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if get_user_model().objects.filter(email__iexact=email).exists():
            raise forms.ValidationError("An account with this e-mail already exists.")
        return email


@permission(PUBLIC)
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST":
        verdict = hit("signup", client_ip(request), limit=SIGNUP_LIMIT, window_s=3600)
        if not verdict.allowed:
            form.is_valid()  # keep field errors and what was typed
            form.add_error(None, verdict.message)
            return render(request, "registration/signup.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Decoupled, {user.username}.")
        return redirect("home")
    return render(
        request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200
    )


class RateLimitedLoginView(auth_views.LoginView):
    """Log-in limited per client address and per username, so guessing is slow."""

    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = (request.POST.get("username") or "").strip().lower()[:150]
        for verdict in (
            hit("login-ip", client_ip(request), limit=LOGIN_LIMIT_PER_IP, window_s=300),
            hit("login-user", username or "-", limit=LOGIN_LIMIT_PER_USER, window_s=300),
        ):
            if not verdict.allowed:
                form = self.get_form()
                form.errors.clear()
                form.add_error(None, verdict.message)
                response = self.render_to_response(self.get_context_data(form=form))
                response.status_code = 429
                response["Retry-After"] = str(verdict.retry_after_s)
                return response
        return super().post(request, *args, **kwargs)


def _public(view):
    return permission(PUBLIC)(view)


urlpatterns = [
    path("signup/", signup, name="signup"),
    path(
        "login/",
        _public(RateLimitedLoginView.as_view()),
        name="login",
    ),
    path("logout/", _public(auth_views.LogoutView.as_view()), name="logout"),
    path(
        "password/change/",
        permission(LEARNER)(
            auth_views.PasswordChangeView.as_view(success_url=reverse_lazy("password_change_done"))
        ),
        name="password_change",
    ),
    path(
        "password/change/done/",
        permission(LEARNER)(auth_views.PasswordChangeDoneView.as_view()),
        name="password_change_done",
    ),
    path("password/reset/", _public(auth_views.PasswordResetView.as_view()), name="password_reset"),
    path(
        "password/reset/done/",
        _public(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        _public(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        _public(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
]
