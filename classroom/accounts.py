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
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome to Decoupled, {user.username}.")
        return redirect("home")
    return render(
        request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200
    )


def _public(view):
    return permission(PUBLIC)(view)


urlpatterns = [
    path("signup/", signup, name="signup"),
    path(
        "login/",
        _public(auth_views.LoginView.as_view(redirect_authenticated_user=True)),
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
