"""Create (or reset) the demo accounts: one instructor and two learners. Idempotent."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from config.permissions import INSTRUCTOR_GROUP

DEMO_ACCOUNTS = [
    ("instructor", "instructor@example.com", "decoupled-instructor", True),
    ("alice", "alice@example.com", "decoupled-alice", False),
    ("bob", "bob@example.com", "decoupled-bob", False),
]


class Command(BaseCommand):
    help = "Create the demo instructor and learners (safe to run repeatedly)."

    def handle(self, *args, **options) -> None:
        users = get_user_model()
        instructors, _ = Group.objects.get_or_create(name=INSTRUCTOR_GROUP)
        self.stdout.write("Demo accounts (username / password):")
        for username, email, password, is_instructor in DEMO_ACCOUNTS:
            user, _ = users.objects.get_or_create(username=username, defaults={"email": email})
            user.email = email
            user.set_password(password)
            user.save()
            if is_instructor:
                user.groups.add(instructors)
            role = "instructor" if is_instructor else "learner"
            self.stdout.write(f"  {role:<10} {username} / {password}")
