"""Pure pieces of the Kubernetes lab: the HPA formula, rolling-update bounds, scenario
validation, objectives and the command schema."""

from __future__ import annotations

import math
import re
from typing import Any

from labs.engines import ScenarioError

__all__ = ["hpa_desired_replicas", "resolve_surge_unavailable"]

# image -> behaviour of its container
IMAGES: dict[str, str] = {
    "web:1.0": "ok",
    "web:1.1": "ok",
    "web:1.2-crash": "crash",  # starts, exits after a second: CrashLoopBackOff
    "web:1.3-typo": "missing",  # no such tag in the registry: ImagePullBackOff
}


def rs_name(image: str) -> str:
    """ReplicaSet name for an image (real ones use a hash of the pod template)."""
    return "web-" + image.split(":", 1)[1].replace(".", "")


def hpa_desired_replicas(
    current_replicas: int,
    current_metric: float,
    target_metric: float,
    tolerance: float = 0.1,
    min_replicas: int = 1,
    max_replicas: int = 10,
) -> int:
    """Kubernetes' HPA rule: ceil(current * metric / target), unchanged while the ratio is within
    the tolerance of 1.0, clamped to [min_replicas, max_replicas].

    A target of 0 or less is refused. With no replicas the result is min_replicas (the real
    controller does not act on a workload scaled to zero; the lab never has one).
    """
    if target_metric <= 0:
        raise ValueError("target_metric must be positive")
    if min_replicas < 1 or max_replicas < min_replicas:
        raise ValueError("need 1 <= min_replicas <= max_replicas")
    ratio = current_metric / target_metric
    if current_replicas <= 0:
        desired = min_replicas
    elif abs(ratio - 1.0) <= tolerance:
        desired = current_replicas
    else:
        desired = math.ceil(current_replicas * current_metric / target_metric)
    return max(min_replicas, min(max_replicas, desired))


_PCT = re.compile(r"^(\d{1,3})%$")


def parse_int_or_percent(value: Any, path: str) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100:
        return value
    if isinstance(value, str) and _PCT.match(value) and int(value[:-1]) <= 100:
        return value
    raise ScenarioError("must be a whole number 0..100 or a percentage like '25%'", path)


def resolve_surge_unavailable(replicas: int, max_surge: int | str, max_unavailable: int | str):
    """Absolute (surge, unavailable) as the Deployment controller computes them: a percentage
    rounds up for maxSurge and down for maxUnavailable; if both come out 0, unavailable is 1."""

    def absolute(value: int | str, round_up: bool) -> int:
        if isinstance(value, int):
            return value
        pct = int(value[:-1])
        # integer arithmetic avoids float rounding surprises at exact multiples
        return -(-replicas * pct // 100) if round_up else replicas * pct // 100

    surge = absolute(max_surge, True)
    unavailable = absolute(max_unavailable, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


OBJECTIVES: dict[str, str] = {
    "pod_replaced": "Delete a pod and watch the ReplicaSet replace it until all replicas are ready",
    "node_failover": "Take a node down: its pods are rescheduled elsewhere and all replicas are "
    "ready again",
    "liveness_restart": "Hang a container: the liveness probe fails and the kubelet restarts it",
    "readiness_endpoint": "Fail a pod's readiness probe: it leaves the Service endpoints without "
    "being restarted",
    "rollout_complete": "Roll out a new image with a rolling update that completes",
    "rollout_stalled": "Roll out a broken image: the rollout stalls (progress deadline exceeded) "
    "while old pods keep serving",
    "rolled_back": "Roll back the stalled rollout until every replica is ready again",
    "hpa_scaled_up": "Raise the load so the HPA adds replicas",
    "hpa_scaled_down": "Lower the load so the HPA removes replicas again",
}
DEFAULT_OBJECTIVES = ["pod_replaced", "node_failover"]

SCENARIO_KEYS = {
    "nodes", "pods_per_node", "replicas", "image", "max_surge", "max_unavailable",
    "progress_deadline_s", "node_grace_s", "ready_delay_ms", "pull_ms", "hpa", "load_rps",
    "rps_per_pod", "objectives",
}  # fmt: skip
HPA_KEYS = {"enabled", "min", "max", "target_cpu", "sync_s", "downscale_window_s"}

_NUM = {"kind": "number", "step": 1}
COMMANDS: list[dict[str, Any]] = [
    {"type": "delete_pod", "label": "Delete a pod", "group": "Chaos", "fields": [
        {"name": "pod", "kind": "text", "label": "Pod name (or 'random')", "default": "random"}]},
    {"type": "hang_pod", "label": "Hang a container (liveness fails)", "group": "Chaos",
     "fields": [{"name": "pod", "kind": "text", "label": "Pod name (or 'random')",
                 "default": "random"}]},
    {"type": "set_ready", "label": "Readiness of a pod", "group": "Chaos", "fields": [
        {"name": "pod", "kind": "text", "label": "Pod name (or 'random')", "default": "random"},
        {"name": "ready", "kind": "bool", "label": "Readiness probe passes", "default": False}]},
    {"type": "kill_node", "label": "Take a node down", "group": "Chaos", "fields": [
        {"name": "node", "kind": "text", "label": "Node", "default": "node-1"}]},
    {"type": "restore_node", "label": "Bring a node back", "group": "Chaos", "fields": [
        {"name": "node", "kind": "text", "label": "Node", "default": "node-1"}]},
    {"type": "set_image", "label": "Update the image (rolling update)", "group": "Deployment",
     "fields": [{"name": "image", "kind": "select", "label": "Image",
                 "choices": [[i, i] for i in IMAGES], "default": "web:1.1"}]},
    {"type": "rollback", "label": "Roll back (kubectl rollout undo)", "group": "Deployment",
     "fields": []},
    {"type": "set_strategy", "label": "Rolling-update strategy", "group": "Deployment",
     "fields": [
         {"name": "max_surge", "kind": "text", "label": "maxSurge (n or n%)", "default": "25%"},
         {"name": "max_unavailable", "kind": "text", "label": "maxUnavailable (n or n%)",
          "default": "25%"}]},
    {"type": "scale", "label": "Scale the Deployment", "group": "Deployment", "fields": [
        {**_NUM, "name": "replicas", "label": "Replicas", "min": 1, "max": 20, "default": 4}]},
    {"type": "set_load", "label": "Load", "group": "Autoscaling", "fields": [
        {"name": "rps", "kind": "number", "label": "Requests per second", "min": 0,
         "max": 5000, "step": 10, "default": 400}]},
    {"type": "set_hpa", "label": "HorizontalPodAutoscaler", "group": "Autoscaling", "fields": [
        {"name": "enabled", "kind": "bool", "label": "Enabled", "default": True},
        {**_NUM, "name": "min", "label": "minReplicas", "min": 1, "max": 20, "default": 2},
        {**_NUM, "name": "max", "label": "maxReplicas", "min": 1, "max": 20, "default": 10},
        {**_NUM, "name": "target_cpu", "label": "Target CPU %", "min": 10, "max": 100,
         "default": 60}]},
]  # fmt: skip


def _int(scenario: dict, key: str, default: int, lo: int, hi: int, path: str = "") -> int:
    value = scenario.get(key, default)
    name = path or key
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError("must be an integer", name)
    if not lo <= value <= hi:
        raise ScenarioError(f"must be between {lo} and {hi}", name)
    return value


def validate(scenario: Any) -> dict[str, Any]:
    if not isinstance(scenario, dict):
        raise ScenarioError("scenario must be a mapping")
    unknown = sorted(set(scenario) - SCENARIO_KEYS)
    if unknown:
        raise ScenarioError(f"unknown key {unknown[0]!r}", unknown[0])
    sc: dict[str, Any] = {
        "nodes": _int(scenario, "nodes", 3, 1, 6),
        "pods_per_node": _int(scenario, "pods_per_node", 4, 1, 20),
        "replicas": _int(scenario, "replicas", 4, 1, 20),
        "progress_deadline_s": _int(scenario, "progress_deadline_s", 30, 5, 600),
        "node_grace_s": _int(scenario, "node_grace_s", 5, 1, 300),
        "ready_delay_ms": _int(scenario, "ready_delay_ms", 2000, 0, 60_000),
        "pull_ms": _int(scenario, "pull_ms", 1500, 0, 60_000),
        "load_rps": _int(scenario, "load_rps", 200, 0, 5000),
        "rps_per_pod": _int(scenario, "rps_per_pod", 100, 1, 10_000),
    }
    image = scenario.get("image", "web:1.0")
    if image not in IMAGES:
        raise ScenarioError(f"must be one of {sorted(IMAGES)}", "image")
    sc["image"] = image
    sc["max_surge"] = parse_int_or_percent(scenario.get("max_surge", "25%"), "max_surge")
    sc["max_unavailable"] = parse_int_or_percent(
        scenario.get("max_unavailable", "25%"), "max_unavailable"
    )
    hpa = scenario.get("hpa", {})
    if not isinstance(hpa, dict) or set(hpa) - HPA_KEYS:
        raise ScenarioError(f"must be a mapping with keys from {sorted(HPA_KEYS)}", "hpa")
    enabled = hpa.get("enabled", False)
    if not isinstance(enabled, bool):
        raise ScenarioError("must be true or false", "hpa.enabled")
    sc["hpa"] = {
        "enabled": enabled,
        "min": _int(hpa, "min", 2, 1, 20, "hpa.min"),
        "max": _int(hpa, "max", 10, 1, 20, "hpa.max"),
        "target_cpu": _int(hpa, "target_cpu", 60, 10, 100, "hpa.target_cpu"),
        "sync_s": _int(hpa, "sync_s", 5, 1, 60, "hpa.sync_s"),
        "downscale_window_s": _int(hpa, "downscale_window_s", 30, 0, 600, "hpa.downscale_window_s"),
    }
    if sc["hpa"]["max"] < sc["hpa"]["min"]:
        raise ScenarioError("must be at least hpa.min", "hpa.max")
    objectives = scenario.get("objectives", DEFAULT_OBJECTIVES)
    if not isinstance(objectives, list) or not all(o in OBJECTIVES for o in objectives):
        raise ScenarioError(f"must be a list of ids from {sorted(OBJECTIVES)}", "objectives")
    sc["objectives"] = list(objectives)
    return sc
