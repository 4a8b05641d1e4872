from django.contrib import admin
from django.urls import include, path

from classroom import accounts
from config import views

admin.site.site_header = "Decoupled administration"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("events/activity", views.activity_stream, name="activity_stream"),
    path("accounts/", include(accounts.urlpatterns)),
    path("courses/", include("lessons.urls")),
    path("quizzes/", include("quizzes.urls")),
    path("labs/", include("labs.urls")),
    path("classroom/", include("classroom.urls")),
    path("admin/", admin.site.urls),
]

handler403 = "config.views.error_403"
handler404 = "config.views.error_404"
handler500 = "config.views.error_500"
