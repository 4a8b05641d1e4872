from django.http import HttpResponse
from django.urls import path

from config.permissions import PUBLIC, permission
from config.urls import urlpatterns as app_urlpatterns


@permission(PUBLIC)
def bare(request):
    return HttpResponse("ok")


urlpatterns = [path("bench/bare", bare), *app_urlpatterns]
