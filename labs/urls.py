from django.urls import path

from labs import views

app_name = "labs"
urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("runs/<uuid:run_id>/events", views.run_events, name="run_events"),
    path("runs/<uuid:run_id>/command", views.command, name="run_command"),
    path("runs/<uuid:run_id>/replay", views.replay_page, name="run_replay"),
    path("runs/<uuid:run_id>/replay.json", views.replay_json, name="run_replay_json"),
    path("runs/<uuid:run_id>/<slug:action>", views.control, name="run_control"),
    path("<slug:lab>/<slug:scenario>/", views.lab_page, name="lab_page"),
    path("<slug:lab>/<slug:scenario>/start", views.start, name="start"),
]
