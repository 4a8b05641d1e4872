"""Settings for bench/lesson_page.py: the app's settings plus one bare view to compare with."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.lesson_page_urls"
