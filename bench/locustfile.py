"""Load scenario: learners browsing lessons, taking a quiz and watching a lab stream.

    locust -f bench/locustfile.py --headless -u 200 -r 20 -t 60s --host http://127.0.0.1:8000

Before the first user starts, the scenario seeds the *server's* database through the project's
own Python (`.venv/bin/python manage.py shell`, same environment as the server): BENCH_USERS
learner accounts (`bench-0` ...) with a ready session each, so no user goes through the log-in
form (its rate limit of 20 attempts per address per 5 minutes is a feature, not a bottleneck
to measure). It also reads the published lessons, quizzes and lab scenarios to visit.

Environment:
  BENCH_USERS    accounts to seed (default 200; users share them round-robin beyond that)
  BENCH_PYTHON   the project's Python (default .venv/bin/python beside this folder)
  BENCH_STREAM_S seconds each lab-stream read stays open (default 3)
The client stands where production's TLS-terminating proxy stands: every request carries
`X-Forwarded-Proto: https` (trusted by the app, SECURE_PROXY_SSL_HEADER) with an https Referer,
and Secure cookies are sent over the plain-HTTP hop. So the same scenario runs against a
DJANGO_DEBUG=0 server (secure cookies, strict CSRF Referer checks) as against `make run`.
Locust prints the request table and "Response time percentiles" at the end of a headless run;
`--csv bench/out` keeps them as files. Any non-2xx/3xx answer counts as a failure, and so
does a page that lands on the log-in form (a lost session would otherwise look like success).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import subprocess
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path

import gevent
from locust import HttpUser, between, events, task

ROOT = Path(__file__).resolve().parent.parent
N_USERS = int(os.environ.get("BENCH_USERS", "200"))
STREAM_S = float(os.environ.get("BENCH_STREAM_S", "3"))
PYTHON = os.environ.get("BENCH_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
LOGIN_PATH = "/accounts/login/"
QUESTION_FORM = re.compile(r'action="(/quizzes/attempt/\d+/save/[^"/]+/)"')

SEED_SCRIPT = r"""
import json
from importlib import import_module
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from lessons.models import Lesson
from quizzes import services as quiz_services
from labs.scenarios import list_scenarios

N = int(__N__)
store = import_module(settings.SESSION_ENGINE).SessionStore
users = get_user_model().objects
sessions = []
for i in range(N):
    user, created = users.get_or_create(
        username=f"bench-{i}", defaults={"email": f"bench-{i}@example.invalid"}
    )
    if created:
        user.set_unusable_password()
        user.save()
    s = store()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    sessions.append(s.session_key)
lessons = [
    f"/courses/{l.course.slug}/{l.slug}/"
    for l in Lesson.objects.filter(published=True, course__published=True).select_related("course")
]
courses = sorted({u.rsplit("/", 2)[0] + "/" for u in lessons})
print("BENCH-JSON " + json.dumps({
    "cookie": settings.SESSION_COOKIE_NAME,
    "sessions": sessions,
    "lessons": lessons,
    "courses": courses,
    "quizzes": [q["slug"] for q in quiz_services.list_quizzes()],
    "labs": [f"/labs/{s.lab}/{s.slug}/" for s in list_scenarios()],
}))
"""


# Send Secure cookies on the plain-HTTP hop, as the TLS proxy in front of the app would. Set on
# the policy class: requests builds a fresh cookie jar (default policy) for every request and
# every redirect it follows. Only this load-generator process is affected.
DefaultCookiePolicy.return_ok_secure = lambda self, cookie, request: True


PLAN: dict = {}
_accounts = itertools.count()


@events.test_start.add_listener
def seed(environment, **_kwargs) -> None:
    """Create the accounts and sessions in the server's database (once, before any user)."""
    if PLAN:
        return
    env = dict(os.environ)
    env.setdefault("DJANGO_DEBUG", "1")
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", SEED_SCRIPT.replace("__N__", str(N_USERS))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH-JSON ")), None)
    if line is None:
        raise RuntimeError(f"seeding failed:\n{out.stdout}\n{out.stderr}")
    PLAN.update(json.loads(line.removeprefix("BENCH-JSON ")))
    if not PLAN["lessons"]:
        raise RuntimeError("no published lessons: load the site first (make site)")
    print(
        f"seeded {len(PLAN['sessions'])} sessions; {len(PLAN['lessons'])} lessons, "
        f"{len(PLAN['quizzes'])} quizzes, {len(PLAN['labs'])} lab scenarios"
    )


class Learner(HttpUser):
    """One signed-in learner: mostly reading, sometimes a quiz, sometimes a lab stream."""

    wait_time = between(1, 3)

    def on_start(self) -> None:
        if not PLAN:
            seed(self.environment)
        session = PLAN["sessions"][next(_accounts) % len(PLAN["sessions"])]
        self.client.headers["X-Forwarded-Proto"] = "https"
        self.origin = "https://" + self.host.split("://", 1)[-1].split("/", 1)[0]
        host = self.host.split("://", 1)[-1].split(":", 1)[0].split("/", 1)[0]
        self.client.cookies.set(PLAN["cookie"], session, domain=host, path="/")
        self.run_url: str | None = None

    # --- helpers --------------------------------------------------------------------------

    def _csrf(self, html: str) -> str:
        match = CSRF_INPUT.search(html)
        if match:
            return match.group(1)
        return self.client.cookies.get("csrftoken", "")

    @staticmethod
    def _judge(response) -> None:
        """A failure is an error status, or a page that sent the learner to the log-in form."""
        if response.status_code >= 400:
            response.failure(f"answered {response.status_code}")
        elif LOGIN_PATH in response.url:
            response.failure("signed out: redirected to the log-in page")
        else:
            response.success()

    def _get(self, url: str, name: str):
        with self.client.get(url, name=name, catch_response=True) as response:
            self._judge(response)
        return response

    def _post(self, url: str, token: str, data: dict | None = None, name: str | None = None):
        with self.client.post(
            url,
            data={**(data or {}), "csrfmiddlewaretoken": token},
            headers={"X-CSRFToken": token, "Referer": self.origin + url},
            name=name,
            catch_response=True,
        ) as response:
            self._judge(response)
        return response

    # --- tasks ----------------------------------------------------------------------------

    @task(6)
    def browse_lessons(self) -> None:
        self._get("/courses/", name="/courses/")
        self._get(random.choice(PLAN["courses"]), name="/courses/[course]/")
        lesson = random.choice(PLAN["lessons"])
        self._get(lesson, name="/courses/[course]/[lesson]/")
        self._get(
            "/courses/search/?q=" + random.choice(["saga", "kafka", "retry"]),
            name="/courses/search/",
        )

    @task(2)
    def take_a_quiz(self) -> None:
        if not PLAN["quizzes"]:
            return
        slug = random.choice(PLAN["quizzes"])
        detail = self._get(f"/quizzes/{slug}/", name="/quizzes/[quiz]/")
        if detail.status_code != 200:
            return
        token = self._csrf(detail.text)
        started = self._post(f"/quizzes/{slug}/start/", token, name="/quizzes/[quiz]/start/")
        if "/quizzes/attempt/" not in started.url:
            return  # no attempts left: the detail page said so, nothing to measure
        attempt = started.url.split("/quizzes/attempt/", 1)[1].split("/", 1)[0]
        token = self._csrf(started.text)
        for action in QUESTION_FORM.findall(started.text)[:3]:
            self._post(
                action,
                token,
                {"answer": random.choice(["0", "1", "2", "true", "42"])},
                name="/quizzes/attempt/[id]/save/[q]/",
            )
        self._post(
            f"/quizzes/attempt/{attempt}/submit/", token, name="/quizzes/attempt/[id]/submit/"
        )

    @task(1)
    def watch_a_lab(self) -> None:
        if not PLAN["labs"]:
            return
        if self.run_url is None:
            lab = random.choice(PLAN["labs"])
            page = self._get(lab, name="/labs/[lab]/[scenario]/")
            if page.status_code != 200:
                return
            started = self._post(
                lab + "start", self._csrf(page.text), name="/labs/[lab]/[scenario]/start"
            )
            match = re.search(r"run=([0-9a-f-]{36})", started.url)
            if not match:
                return  # at the active-run limit: the page says so
            self.run_url = f"/labs/runs/{match.group(1)}/events"
        with self.client.get(
            self.run_url,
            stream=True,
            name="/labs/runs/[id]/events",
            catch_response=True,
            timeout=(5, 20),  # read timeout above the 15 s SSE heartbeat
        ) as response:
            if response.status_code != 200 or LOGIN_PATH in response.url:
                response.failure(f"stream answered {response.status_code} at {response.url}")
                return
            # Watch for STREAM_S seconds whatever arrives (ticks, heartbeats or nothing).
            with gevent.Timeout(STREAM_S, False):
                for line in response.iter_lines(decode_unicode=True):
                    if line and line.strip() == "event: end":
                        self.run_url = None  # the run ended; start another next time
                        break
            response.success()
