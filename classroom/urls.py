from django.urls import path

from classroom import views

app_name = "classroom"
urlpatterns = [
    path("", views.cohort_list, name="list"),
    path("join/<str:code>/", views.join, name="join"),
    path("<int:pk>/", views.dashboard, name="dashboard"),
    path("<int:pk>/manage/", views.manage, name="manage"),
    path("<int:pk>/learners/<int:user_id>/", views.learner, name="learner"),
    path("<int:pk>/learners/<int:user_id>/remove/", views.remove_member, name="remove_member"),
    path("<int:pk>/leave/", views.leave, name="leave"),
    path("<int:pk>/quizzes/<slug:slug>/", views.quiz_report, name="quiz_report"),
    path("<int:pk>/labs/", views.lab_report, name="lab_report"),
    path("<int:pk>/live/", views.live, name="live"),
    path("<int:pk>/live/events", views.activity, name="activity"),
    path("<int:pk>/export/<slug:kind>/", views.export, name="export"),
    path("<int:pk>/exports/<int:export_id>/", views.export_status, name="export_status"),
    path(
        "<int:pk>/exports/<int:export_id>/download",
        views.export_download,
        name="export_download",
    ),
]
