from django.urls import path

from . import views

app_name = "lessons"
urlpatterns = [
    path("", views.catalog, name="catalog"),
    path("search/", views.search_view, name="search"),
    path("check/<str:qid>/", views.check_question, name="check"),
    path("check/<str:qid>/answer/", views.check_answer, name="check_answer"),
    path("<slug:course>/", views.course_page, name="course"),
    path("<slug:course>/assets/<path:rel>", views.asset, name="asset"),
    path("<slug:course>/<slug:slug>/", views.lesson_page, name="lesson"),
    path("<slug:course>/<slug:slug>/complete/", views.mark_complete, name="complete"),
    path("<slug:course>/<slug:slug>/progress/", views.record_progress, name="progress"),
]
