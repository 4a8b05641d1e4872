"""The API gateway lab engine: contract, scenarios (each winnable), commands, speed."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from labs.engines import CommandError, ScenarioError, get_engine, json_roundtrip
from labs.engines.gateway import GatewayEngine, TokenBucket
from tests.labs.engine_contract import assert_contract, run

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "site/microservices/labs/api-gateway"
SLUGS = ["rate-limiting", "load-balancing", "composition"]


def load_scenario(slug: str) -> dict:
    return yaml.safe_load((SCENARIO_DIR / f"{slug}.yaml").read_text())


# The command sequences that win each scenario: (simulated ms, command).
WINNING = {
    "rate-limiting": (
        45_000,
        [(15_000, {"type": "configure_rate_limit", "enabled": True, "rate_per_s": 40,
                   "burst": 20})],
    ),
    "load-balancing": (
        140_000,
        [
            (30_000, {"type": "set_strategy", "strategy": "least_conn"}),
            (60_000, {"type": "set_strategy", "strategy": "p2c"}),
            (90_000, {"type": "configure_hedging", "enabled": True, "delay_ms": 0}),
            (120_000, {"type": "set_replica", "replica": "search_2", "state": "crash"}),
            (130_000, {"type": "set_replica", "replica": "search_2", "state": "up"}),
        ],
    ),
    "composition": (
        50_000,
        [(35_000, {"type": "configure_composition", "timeout_ms": 200, "allow_partial": True})],
    ),
}  # fmt: skip


def test_registered_under_its_slug():
    assert get_engine("api-gateway") is GatewayEngine
    assert GatewayEngine.slug == "api-gateway"


def test_token_bucket_rate_10_burst_5_is_exact():
    bucket = TokenBucket(10, 5)
    assert [bucket.allow(0) for _ in range(6)] == [True] * 5 + [False]
    assert not bucket.allow(99)
    assert bucket.allow(100) and not bucket.allow(100)
    assert bucket.allow(200) and not bucket.allow(299) and bucket.allow(300)
    # after a long pause the bucket is full again, never fuller
    assert sum(bucket.allow(60_000) for _ in range(10)) == 5


def test_token_bucket_refuses_bad_arguments():
    for rate, burst in ((-1, 5), (10, 0), (0.0001, 5), ("10", 5), (10, 2.5)):
        with pytest.raises(ValueError):
            TokenBucket(rate, burst)
    bucket = TokenBucket(1, 1)
    bucket.allow(100)
    with pytest.raises(ValueError):
        bucket.allow(50)


def test_default_scenario_keeps_the_contract():
    events = assert_contract(GatewayEngine, None, 7, 20_000)
    assert {e["type"] for e in events} >= {"stats"}


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_files_are_complete(slug):
    data = load_scenario(slug)
    assert {"title", "summary", "brief", "duration_s", "scenario"} <= set(data)
    GatewayEngine.validate_scenario(data["scenario"])


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_keeps_the_contract_with_its_winning_commands(slug):
    to_ms, commands = WINNING[slug]
    to_ms = min(to_ms, 50_000)
    commands = [c for c in commands if c[0] <= to_ms]
    assert_contract(GatewayEngine, load_scenario(slug)["scenario"], 3, to_ms, commands)


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_is_winnable(slug):
    to_ms, commands = WINNING[slug]
    engine = GatewayEngine.create(load_scenario(slug)["scenario"], 0)
    events = run(engine, to_ms, 1000, commands)
    objectives = engine.objectives()
    assert objectives and all(o["met"] for o in objectives), objectives
    met_events = {e["id"] for e in events if e["type"] == "objective_met"}
    assert met_events == {o["id"] for o in objectives}


@pytest.mark.parametrize("slug", SLUGS)
def test_scenario_is_not_won_by_waiting(slug):
    to_ms, _ = WINNING[slug]
    engine = GatewayEngine.create(load_scenario(slug)["scenario"], 0)
    run(engine, to_ms, 1000)
    assert not any(o["met"] for o in engine.objectives()), engine.objectives()


def test_rate_limit_only_throttles_the_client_over_its_rate():
    engine = GatewayEngine.create(load_scenario("rate-limiting")["scenario"], 1)
    engine.apply({"type": "configure_rate_limit", "enabled": True, "rate_per_s": 40,
                  "burst": 20})  # fmt: skip
    events = run(engine, 30_000, 1000)
    stats = [e for e in events if e["type"] == "stats"]
    limited = {c: sum(s["clients"][c][1] for s in stats) for c in ("web", "mobile", "scraper")}
    sent = sum(s["clients"]["scraper"][0] for s in stats)
    assert limited["web"] == limited["mobile"] == 0
    # the scraper gets through at most burst + rate x elapsed
    assert sent - limited["scraper"] <= 20 + 40 * 30
    assert limited["scraper"] > sent / 2
    assert sum(s["rate_limited"] for s in stats) == sum(limited.values())


def test_unmatched_paths_get_404_and_longest_prefix_wins():
    scenario = {
        "services": {"a": {"latency_ms": 10}, "b": {"latency_ms": 10}},
        "routes": [{"prefix": "/api", "service": "a"}, {"prefix": "/api/b", "service": "b"}],
        "clients": [{"id": "c", "rps": 50, "paths": ["/api/b/1", "/other", "/apib"]}],
    }
    engine = GatewayEngine.create(scenario, 0)
    events = run(engine, 10_000, 1000)
    stats = [e for e in events if e["type"] == "stats"]
    served = {r: sum(s["replicas"][r][0] for s in stats) for r in ("a_1", "b_1")}
    assert served["a_1"] == 0 and served["b_1"] > 100
    assert sum(s["not_found"] for s in stats) > 200


def test_round_robin_spreads_evenly_and_least_conn_spares_the_slow_replica():
    scenario = load_scenario("load-balancing")["scenario"]
    shares = {}
    for strategy in ("round_robin", "least_conn", "p2c"):
        engine = GatewayEngine.create(scenario, 0)
        engine.apply({"type": "set_strategy", "strategy": strategy})
        events = run(engine, 20_000, 1000)
        served = [0] * 4
        for s in (e for e in events if e["type"] == "stats"):
            for i in range(4):
                served[i] += s["replicas"][f"search_{i + 1}"][0]
        shares[strategy] = served[3] / sum(served)
    assert abs(shares["round_robin"] - 0.25) < 0.01
    assert shares["least_conn"] < 0.2 and shares["p2c"] < 0.2


def test_crashed_replica_leaves_the_pool_after_n_failures_and_rejoins():
    engine = GatewayEngine.create(load_scenario("load-balancing")["scenario"], 0)
    run(engine, 10_500, 1000)
    engine.apply({"type": "set_replica", "replica": "search_1", "state": "crash"})
    events = run(engine, 20_000, 1000)
    removed = [e for e in events if e["type"] == "replica_removed"]
    assert [(e["t"], e["replica"]) for e in removed] == [(13_000, "search_1")]
    # until then requests to it failed fast (502); afterwards none reach it
    stats = {e["second"]: e for e in events if e["type"] == "stats"}
    assert sum(stats[s]["errors"] for s in (11, 12, 13)) > 0
    assert all(stats[s]["replicas"]["search_1"][0] == 0 for s in range(14, 21))
    assert all(stats[s]["errors"] == 0 for s in range(14, 21))
    engine.apply({"type": "set_replica", "replica": "search_1", "state": "up"})
    events = run(engine, 25_000, 1000)
    rejoined = [e for e in events if e["type"] == "replica_rejoined"]
    assert [(e["t"], e["replica"]) for e in rejoined] == [(22_000, "search_1")]


def test_slow_replica_stays_in_the_pool_and_hung_one_leaves():
    engine = GatewayEngine.create(load_scenario("load-balancing")["scenario"], 0)
    engine.apply({"type": "set_replica", "replica": "search_1", "state": "slow"})
    engine.apply({"type": "set_replica", "replica": "search_2", "state": "hang"})
    events = run(engine, 10_000, 1000)
    assert [e["replica"] for e in events if e["type"] == "replica_removed"] == ["search_2"]


def test_composition_availability_math():
    engine = GatewayEngine.create(load_scenario("composition")["scenario"], 0)
    run(engine, 50_000, 1000, WINNING["composition"][1])
    a = engine.snapshot()["availability"]
    s = a["services"]
    assert s["users"] == s["orders"] == 1.0 and 0 < s["recommendations"] < 1
    assert a["all_needed"] == pytest.approx(s["users"] * s["orders"] * s["recommendations"], 1e-3)
    assert a["required_only"] == 1.0
    # partial answers count as answered: more available than "every part required"
    assert a["measured_answered"] > a["measured_full"]


def test_hedging_sends_a_second_request_and_sometimes_wins():
    engine = GatewayEngine.create(load_scenario("load-balancing")["scenario"], 0)
    engine.apply({"type": "configure_hedging", "enabled": True, "delay_ms": 0})
    events = run(engine, 20_000, 1000)
    stats = [e for e in events if e["type"] == "stats" and e["second"] > 5]
    requests = sum(s["requests"] for s in stats)
    hedges = sum(s["hedges"] for s in stats)
    assert 0.02 * requests < hedges < 0.15 * requests  # about the slowest 5%
    assert 0 < sum(s["hedge_wins"] for s in stats) <= hedges


@pytest.mark.parametrize(
    ("scenario", "path"),
    [
        ({"nonsense": 1}, "nonsense"),
        ({"services": {"a": {"latency_ms": 0}}}, "services.a.latency_ms"),
        ({"services": {"a": {"latency_ms": 5, "colour": 1}}}, "services.a.colour"),
        ({"services": {"a": {"latency_ms": 5, "replicas": []}}}, "services.a.replicas"),
        ({"routes": [{"prefix": "api", "service": "a"}]}, "routes.0.prefix"),
        ({"routes": [{"prefix": "/x", "service": "zz"}]}, "routes.0.service"),
        ({"routes": [{"prefix": "/x", "compose": ["a", "b"], "required": ["c"]}]},
         "routes.0.required.0"),
        ({"clients": [{"id": "c", "rps": 600, "paths": ["/a"]}]}, "clients.0.rps"),
        ({"gateway": {"strategy": "random"}}, "gateway.strategy"),
        ({"rate_limit": {"burst": 0}}, "rate_limit.burst"),
        ({"faults": [{"at_s": 1, "replica": "a_9", "state": "crash"}]}, "faults.0.replica"),
        ({"objectives": ["win"]}, "objectives.0"),
    ],
)  # fmt: skip
def test_invalid_scenarios_are_refused_with_a_path(scenario, path):
    base = {
        "services": {"a": {"latency_ms": 5}, "b": {"latency_ms": 5}, "c": {"latency_ms": 5}},
        "routes": [{"prefix": "/a", "service": "a"}],
        "clients": [{"id": "c", "rps": 5, "paths": ["/a"]}],
    }
    with pytest.raises(ScenarioError) as error:
        GatewayEngine.create({**base, **scenario}, 0)
    assert error.value.path == path


@pytest.mark.parametrize(
    "command",
    [
        {},
        {"type": "launch"},
        {"type": "set_strategy", "strategy": "random"},
        {"type": "set_strategy"},
        {"type": "set_strategy", "strategy": "p2c", "extra": 1},
        {"type": "configure_rate_limit", "enabled": "yes"},
        {"type": "configure_rate_limit", "enabled": True, "burst": 0},
        {"type": "configure_rate_limit", "enabled": True, "rate_per_s": 0.0001},
        {"type": "set_client_rps", "client": "nobody", "rps": 5},
        {"type": "set_client_rps", "client": "web", "rps": -5},
        {"type": "set_replica", "replica": "search_9", "state": "crash"},
        {"type": "set_replica", "replica": "search_1", "state": "melted"},
        {"type": "configure_health", "unhealthy_after": 0},
        {"type": "configure_composition", "timeout_ms": 1},
        {"type": "configure_hedging", "enabled": True, "delay_ms": -1},
        {"type": "set_gateway_timeout", "timeout_ms": True},
    ],
)
def test_bad_commands_are_refused_and_change_nothing(command):
    engine = GatewayEngine.create(load_scenario("load-balancing")["scenario"], 0)
    run(engine, 3_000, 1000)
    before = json_roundtrip(engine.dump())
    with pytest.raises(CommandError):
        engine.apply(command)
    assert json_roundtrip(engine.dump()) == before


def test_command_schema_covers_every_command():
    schema = GatewayEngine.command_schema()
    engine = GatewayEngine.create(load_scenario("load-balancing")["scenario"], 0)
    for command in schema:
        fields = {f["name"]: f["default"] for f in command["fields"]}
        if command["type"] == "set_client_rps":
            fields["client"] = "web"
        if command["type"] == "set_replica":
            fields["replica"] = "search_1"
        ack = engine.apply({"type": command["type"], **fields})
        assert ack["type"] == "command_applied" and json_roundtrip(ack) == ack
    assert json_roundtrip(engine.snapshot()) == engine.snapshot()


def test_snapshot_is_small_and_events_are_few():
    engine = GatewayEngine.create(load_scenario("composition")["scenario"], 0)
    events = run(engine, 120_000, 1000)
    assert len(events) < 5 * 120
    assert len(json_roundtrip(str(engine.snapshot()))) < 50_000


def test_cpu_per_simulated_second_at_200_rps():
    scenario = load_scenario("load-balancing")["scenario"]
    scenario["clients"][0]["rps"] = 200
    scenario["services"]["search"]["replicas"] = [1, 1, 1, 1, 4]
    scenario["gateway"]["strategy"] = "p2c"
    scenario["hedging"] = {"enabled": True}
    engine = GatewayEngine.create(scenario, 0)
    started = time.process_time()
    run(engine, 60_000, 1000)
    per_second_ms = (time.process_time() - started) * 1000 / 60
    print(f"gateway engine: {per_second_ms:.2f} ms CPU per simulated second at 200 rps")
    assert per_second_ms < 10  # target is a few ms; leave room for a busy shared machine


# ---------------------------------------------------------------------- properties

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from labs.engines import SeededRandom  # noqa: E402
from labs.engines.gateway_core import pick_replica  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    rate=st.integers(0, 2000).map(lambda r: r / 10),
    burst=st.integers(1, 50),
    gaps=st.lists(st.integers(0, 400), min_size=1, max_size=200),
)
def test_token_bucket_never_allows_more_than_burst_plus_rate_times_elapsed(rate, burst, gaps):
    bucket = TokenBucket(rate, burst)
    t, allowed = 0, []
    for gap in gaps:
        t += gap
        if bucket.allow(t):
            allowed.append(t)
    # over every window [a, b] of allowed request times, from the start and in between
    for i, a in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= burst + rate * (allowed[j] - a) / 1000 + 1e-9
    assert len(allowed) <= burst + rate * t / 1000 + 1e-9


@settings(max_examples=100, deadline=None)
@given(rate=st.integers(1, 1000), burst=st.integers(1, 20))
def test_token_bucket_a_steady_client_at_the_rate_is_never_refused(rate, burst):
    bucket = TokenBucket(rate, burst)
    # one request every 1000/rate ms (rounded up) never finds the bucket empty
    step = -(-1000 // rate)
    assert all(bucket.allow(k * step) for k in range(200))


_loads = st.lists(st.integers(0, 30), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), in_flight=_loads, cursor=st.integers(0, 20), seed=st.integers(0, 99))
def test_least_conn_never_picks_a_busier_replica_than_another_healthy_one(
    data, in_flight, cursor, seed
):
    pool = data.draw(st.lists(st.sampled_from(range(len(in_flight))), min_size=1, unique=True))
    chosen, _ = pick_replica("least_conn", pool, in_flight, cursor, SeededRandom(seed))
    assert chosen in pool
    assert all(in_flight[chosen] <= in_flight[r] for r in pool)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), in_flight=_loads, cursor=st.integers(0, 20), seed=st.integers(0, 99))
def test_every_strategy_picks_from_the_pool_and_p2c_never_the_unique_busiest(
    data, in_flight, cursor, seed
):
    pool = data.draw(st.lists(st.sampled_from(range(len(in_flight))), min_size=1, unique=True))
    for strategy in ("round_robin", "least_conn", "p2c"):
        chosen, _ = pick_replica(strategy, pool, in_flight, cursor, SeededRandom(seed))
        assert chosen in pool
    chosen, _ = pick_replica("p2c", pool, in_flight, cursor, SeededRandom(seed))
    busiest = max(in_flight[r] for r in pool)
    if [in_flight[r] for r in pool].count(busiest) == 1 and len(pool) > 1:
        assert in_flight[chosen] < busiest


_states = st.sampled_from(["crash", "hang", "slow", "up"])


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 1000),
    strategy=st.sampled_from(["round_robin", "least_conn", "p2c"]),
    hedging=st.booleans(),
    interval=st.integers(1, 20).map(lambda k: k * 100),
    changes=st.lists(
        st.tuples(st.integers(1, 29), st.integers(1, 4), _states), min_size=1, max_size=6
    ),
)
def test_a_removed_replica_receives_no_traffic(seed, strategy, hedging, interval, changes):
    scenario = load_scenario("load-balancing")["scenario"]
    scenario["gateway"]["strategy"] = strategy
    scenario["hedging"] = {"enabled": hedging}
    scenario["health"] = {"interval_ms": interval, "unhealthy_after": 2, "healthy_after": 2}
    commands = [
        (s * 1000, {"type": "set_replica", "replica": f"search_{r}", "state": state})
        for s, r, state in changes
    ]
    engine = GatewayEngine.create(scenario, seed)
    events = run(engine, 30_000, 1000, commands)
    out_since: dict[str, int] = {}  # replica -> when it left the pool
    removals = []  # (replica, left, rejoined or None)
    for e in events:
        if e["type"] == "replica_removed":
            out_since[e["replica"]] = e["t"]
        elif e["type"] == "replica_rejoined":
            removals.append((e["replica"], out_since.pop(e["replica"]), e["t"]))
    removals += [(r, t, None) for r, t in out_since.items()]
    for s in (e for e in events if e["type"] == "stats"):
        for replica, left, back in removals:
            # a whole stats second (t-1000, t] spent out of the pool: no request sent to it
            if s["t"] - 1000 >= left and (back is None or s["t"] < back):
                assert s["replicas"][replica][0] == 0, (replica, s["second"])
        for sent, in_flight in s["replicas"].values():
            assert sent >= 0 and in_flight >= 0
