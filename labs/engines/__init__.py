"""The engine contract (READ docs/labs/README.md FIRST: command_schema format, visualiser
contract, scenario files, working rules for this shared repository and the deadline): pure, seeded, checkpointable simulations of microservice patterns.

Engines import nothing from Django, Celery or Redis. The lab platform drives them:

    engine = get_engine("circuit-breaker").create(scenario, seed)
    events = engine.advance(1000)          # simulate up to t=1000 ms, get the events produced
    engine.apply({"type": "set_error_rate", "value": 0.5})   # a learner's command, at engine.now_ms
    state = engine.dump()                  # JSON-ready checkpoint
    engine = EngineClass.load(state)       # ... later, maybe in another worker process

Rules every engine keeps (tests/labs/engine_contract.py checks them for each engine):
- `advance(to_ms)` returns the events with `t` in (previous now_ms, to_ms], in time order, each a
  JSON-ready dict with an integer `t` (simulated ms) and a `type`; afterwards `now_ms == to_ms`.
- Slicing does not matter: advance(500); advance(1000) gives the same events as advance(1000).
- Same scenario, seed and commands (applied at the same simulated times) give the same events.
- dump()/load() mid-run changes nothing about later events (so the RNG state is dumped too).
- `apply(command)` validates first and raises CommandError with a readable reason, changing
  nothing, for anything invalid; on success it returns a JSON-ready acknowledgement dict.
"""

from __future__ import annotations

import importlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

__all__ = [
    "CommandError",
    "Engine",
    "ENGINE_PATHS",
    "ScenarioError",
    "SeededRandom",
    "check_seed",
    "new_event_engine",
    "objective_ids",
    "get_engine",
    "engine_slugs",
]


class CommandError(ValueError):
    """A learner's command was refused; str(error) is shown to the learner next to the control."""


class ScenarioError(ValueError):
    """A scenario dict is invalid; `path` names the offending key (e.g. "downstream.error_rate")."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class SeededRandom(random.Random):
    """random.Random whose full state round-trips through JSON (for dump()/load())."""

    def dump_state(self) -> list[Any]:
        version, internal, gauss = self.getstate()
        return [version, list(internal), gauss]

    @classmethod
    def from_state(cls, state: list[Any]) -> SeededRandom:
        rng = cls()
        rng.setstate((state[0], tuple(state[1]), state[2]))
        return rng


class Engine(ABC):
    """Base class of every lab engine. Subclasses set `slug` and `title`."""

    slug: ClassVar[str]
    title: ClassVar[str]

    @classmethod
    @abstractmethod
    def default_scenario(cls) -> dict[str, Any]:
        """The scenario used when create() is given None."""

    @classmethod
    @abstractmethod
    def create(cls, scenario: dict[str, Any] | None = None, seed: int = 0) -> Engine:
        """Validate `scenario` (raise ScenarioError) and build an engine at t=0."""

    @classmethod
    def validate_scenario(cls, scenario: dict[str, Any]) -> None:
        """Raise ScenarioError for an invalid scenario; used by check_site on scenario files."""
        cls.create(scenario, seed=0)

    @classmethod
    def command_schema(cls) -> list[dict[str, Any]]:
        """Commands the UI offers: [{"type", "label", "fields": [{"name", "kind", ...}]}]."""
        return []

    @property
    @abstractmethod
    def now_ms(self) -> int:
        """The simulated time reached so far."""

    @abstractmethod
    def advance(self, to_ms: int) -> list[dict[str, Any]]:
        """Run the simulation up to `to_ms` and return the events produced, in time order."""

    @abstractmethod
    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        """Apply a learner's command at now_ms; raise CommandError if it is invalid."""

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """The whole visible state, JSON-ready (what a visualiser draws on connect)."""

    @abstractmethod
    def dump(self) -> dict[str, Any]:
        """The full state, JSON-ready, such that load(dump()) continues identically."""

    @classmethod
    @abstractmethod
    def load(cls, state: dict[str, Any]) -> Engine:
        """Rebuild an engine from dump()."""

    @abstractmethod
    def objectives(self) -> list[dict[str, Any]]:
        """[{"id", "title", "met"}] evaluated over the state and event history."""

    @property
    def finished(self) -> bool:
        """True when the scenario has reached its natural end (most labs run until stopped)."""
        return False

    def summary(self) -> dict[str, Any]:
        """Small JSON-ready summary stored with a finished run (counts, key metrics)."""
        return {}


def check_seed(seed: object) -> int:
    """A run's seed must be a plain integer (bool is an int subclass but never a seed)."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("seed must be an integer", "seed")
    return seed


E = TypeVar("E", bound=Engine)


def new_event_engine(
    cls: type[E], scenario: dict[str, Any] | None, seed: int, validate: Callable[[Any], dict]
) -> tuple[E, dict[str, Any]]:
    """The common start of `create()` for the engines driven by an event heap (breaker,
    gateway, event sourcing): the default scenario when none is given, a checked seed, the
    validated scenario, and an engine at t=0 with an empty heap and its seeded random source.
    """
    seed = check_seed(seed)
    sc = validate(cls.default_scenario() if scenario is None else scenario)
    engine = cls.__new__(cls)
    engine.sc = sc
    engine._now = 0
    engine._seq = 0  # tie-breaker: events at the same time pop in the order they were pushed
    engine._heap = []
    engine.rng = SeededRandom(seed)
    return engine, sc


def objective_ids(raw: object, known: Any) -> list[str]:
    """Validate a scenario's `objectives` list against the engine's catalogue; drop repeats."""
    if not isinstance(raw, list) or not all(isinstance(o, str) for o in raw):
        raise ScenarioError("must be a list of objective ids", "objectives")
    for i, objective in enumerate(raw):
        if objective not in known:
            raise ScenarioError(f"unknown objective; known: {', '.join(known)}", f"objectives.{i}")
    return list(dict.fromkeys(raw))


# slug -> "module:Class"; imported lazily so one broken engine cannot break the others.
ENGINE_PATHS: dict[str, str] = {
    "circuit-breaker": "labs.engines.breaker:BreakerEngine",
    "kafka": "labs.engines.kafka:KafkaEngine",
    "saga": "labs.engines.saga:SagaEngine",
    "event-sourcing": "labs.engines.event_sourcing:EventSourcingEngine",
    "api-gateway": "labs.engines.gateway:GatewayEngine",
    "kubernetes": "labs.engines.kubernetes:KubernetesEngine",
}


def engine_slugs() -> list[str]:
    return sorted(ENGINE_PATHS)


def get_engine(slug: str) -> type[Engine]:
    try:
        path = ENGINE_PATHS[slug]
    except KeyError:
        raise KeyError(f"unknown lab engine {slug!r}; known: {', '.join(engine_slugs())}") from None
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def json_roundtrip(value: Any) -> Any:
    """Pass a value through JSON, as a checkpoint in Redis would; used by tests and the driver."""
    return json.loads(json.dumps(value))
