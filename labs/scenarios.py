"""Lab scenarios read straight from the course files: site/<course>/labs/<lab>/<scenario>.yaml.

Each file has title, summary, brief (Markdown), duration_s and scenario (the engine's dict).
The platform reads them from disk so it works before (and without) any database loader.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import markdown
import nh3
import yaml
from django.conf import settings

from labs.engines import ENGINE_PATHS, get_engine

MAX_DURATION_S = 1800  # a run never lasts longer than 30 simulated minutes
DEFAULT_DURATION_S = 300


@dataclass(frozen=True)
class Scenario:
    lab: str
    slug: str
    title: str
    summary: str
    brief_html: str
    duration_s: int
    scenario: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self):
        return get_engine(self.lab)

    @property
    def lab_title(self) -> str:
        return self.engine.title


def site_root() -> Path:
    return Path(getattr(settings, "SITE_CONTENT_DIR", settings.BASE_DIR / "site"))


def _scenario_files() -> list[Path]:
    root = site_root()
    return sorted(
        path
        for path in root.glob("*/labs/*/*.yaml")
        if path.parent.name in ENGINE_PATHS and not path.name.startswith("_")
    )


def render_brief(text: str) -> str:
    html = markdown.markdown(text or "", extensions=["fenced_code", "tables"])
    return nh3.clean(html)


@functools.lru_cache(maxsize=256)
def _load(path_str: str, mtime: float) -> Scenario:
    path = Path(path_str)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise LookupError(f"{path}: not a mapping")
    duration = int(data.get("duration_s") or DEFAULT_DURATION_S)
    return Scenario(
        lab=path.parent.name,
        slug=path.stem,
        title=str(data.get("title") or path.stem),
        summary=str(data.get("summary") or ""),
        brief_html=render_brief(str(data.get("brief") or "")),
        duration_s=max(1, min(duration, MAX_DURATION_S)),
        scenario=dict(data.get("scenario") or {}),
    )


def _from_path(path: Path) -> Scenario:
    return _load(str(path), path.stat().st_mtime)


def list_scenarios() -> list[Scenario]:
    """Every readable scenario, grouped by lab in slug order (broken files are skipped)."""
    found = []
    for path in _scenario_files():
        try:
            found.append(_from_path(path))
        except (OSError, yaml.YAMLError, LookupError, ValueError, TypeError):
            continue
    return found


def labs_catalog() -> list[dict[str, Any]]:
    """[{"slug", "title", "scenarios": [Scenario, ...]}] for the catalog page."""
    by_lab: dict[str, list[Scenario]] = {}
    for scenario in list_scenarios():
        by_lab.setdefault(scenario.lab, []).append(scenario)
    return [
        {"slug": lab, "title": get_engine(lab).title, "scenarios": items}
        for lab, items in sorted(by_lab.items())
    ]


def get_scenario(lab: str, slug: str) -> Scenario:
    """The scenario `slug` of `lab`; LookupError when there is none (views answer 404)."""
    if lab not in ENGINE_PATHS or not slug.replace("-", "").replace("_", "").isalnum():
        raise LookupError(f"no scenario {lab}/{slug}")
    for path in site_root().glob(f"*/labs/{lab}/{slug}.yaml"):
        try:
            return _from_path(path)
        except (OSError, yaml.YAMLError, ValueError, TypeError) as exc:
            raise LookupError(f"scenario {lab}/{slug} is unreadable: {exc}") from exc
    raise LookupError(f"no scenario {lab}/{slug}")
