from django.contrib import admin

from quizzes.models import Accommodation, Attempt, ReviewCard


@admin.register(Accommodation)
class AccommodationAdmin(admin.ModelAdmin):
    list_display = ("user", "time_multiplier", "extra_attempts", "note")
    search_fields = ("user__username",)


@admin.register(Attempt)
class AttemptAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "quiz_slug",
        "number",
        "mode",
        "state",
        "score",
        "passed",
        "started_at",
        "submitted_at",
    )
    list_filter = ("quiz_slug", "state", "mode")
    search_fields = ("user__username", "quiz_slug")
    readonly_fields = ("question_ids", "seed")


@admin.register(ReviewCard)
class ReviewCardAdmin(admin.ModelAdmin):
    list_display = ("user", "qid", "due", "reviews", "lapses")
    search_fields = ("user__username", "qid")
