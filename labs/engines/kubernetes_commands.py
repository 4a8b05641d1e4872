"""Learner commands, views and checkpointing of the Kubernetes lab engine (a mixin)."""

from __future__ import annotations

import copy
from typing import Any

from labs.engines import CommandError, ScenarioError, SeededRandom
from labs.engines.kubernetes_core import (
    COMMANDS,
    OBJECTIVES,
    parse_int_or_percent,
    resolve_surge_unavailable,
    rs_name,
)


def _check(name: str, field: dict[str, Any], value: Any) -> Any:
    kind = field["kind"]
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommandError(f"{name} must be a number")
        if not field["min"] <= value <= field["max"]:
            raise CommandError(f"{name} must be between {field['min']} and {field['max']}")
        if value != int(value):
            raise CommandError(f"{name} must be a whole number")
        return int(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise CommandError(f"{name} must be true or false")
        return value
    if kind == "select":
        if value not in [c[0] for c in field["choices"]]:
            raise CommandError(f"{name} must be one of {[c[0] for c in field['choices']]}")
        return value
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"{name} must be non-empty text")
    return value.strip()


class CommandsMixin:
    s: dict[str, Any]
    sc: dict[str, Any]
    rng: SeededRandom

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(command, dict) or not isinstance(command.get("type"), str):
            raise CommandError("a command is a mapping with a 'type'")
        kind = command["type"]
        spec = next((c for c in COMMANDS if c["type"] == kind), None)
        if spec is None:
            raise CommandError(f"unknown command {kind!r}")
        fields = {f["name"]: f for f in spec["fields"]}
        unknown = set(command) - {"type"} - set(fields)
        if unknown:
            raise CommandError(f"unknown field {sorted(unknown)[0]!r}")
        clean = {"type": kind}
        for name, f in fields.items():
            clean[name] = _check(name, f, command.get(name, f.get("default")))
        getattr(self, f"_cmd_{kind}")(clean)
        return {"type": "command_applied", "t": self.s["now"], "command": clean}

    def _pick_pod(self, name: str, want=lambda p: True) -> dict[str, Any]:
        pods = [p for p in self.s["pods"] if want(p)]
        if name == "random":
            if not pods:
                raise CommandError("no pod to pick")
            # draw only once we know the command is valid, so a refusal changes nothing
            return pods[int(self.rng.random() * len(pods))]
        for pod in pods:
            if pod["name"] == name:
                return pod
        raise CommandError(f"no such pod {name!r}")

    def _cmd_delete_pod(self, cmd: dict[str, Any]) -> None:
        pod = self._pick_pod(cmd["pod"])
        self.s["pods"].remove(pod)
        self.s["counters"]["deleted"] += 1
        self.s["pending"]["pod_replaced"] = True

    def _running_up(self, pod: dict[str, Any]) -> bool:
        node = self._node(pod["node"]) if pod["node"] else None
        return pod["phase"] == "Running" and node is not None and node["up"]

    def _cmd_hang_pod(self, cmd: dict[str, Any]) -> None:
        pod = self._pick_pod(cmd["pod"], lambda p: self._running_up(p) and not p["hung"])
        pod["hung"] = True

    def _cmd_set_ready(self, cmd: dict[str, Any]) -> None:
        pod = self._pick_pod(
            cmd["pod"], lambda p: self._running_up(p) and p["unready"] == cmd["ready"]
        )
        pod["unready"] = not cmd["ready"]

    def _cmd_kill_node(self, cmd: dict[str, Any]) -> None:
        node = self._node(cmd["node"])
        if node is None:
            raise CommandError(f"no such node {cmd['node']!r}")
        if not node["up"]:
            raise CommandError(f"{cmd['node']} is already down")
        if sum(1 for n in self.s["nodes"] if n["up"]) == 1:
            raise CommandError("keep at least one node up")
        node.update(up=False, down_since=self.s["now"])
        self.s["pending"]["node_failover"] = True

    def _cmd_restore_node(self, cmd: dict[str, Any]) -> None:
        node = self._node(cmd["node"])
        if node is None:
            raise CommandError(f"no such node {cmd['node']!r}")
        if node["up"]:
            raise CommandError(f"{cmd['node']} is already up")
        node.update(up=True, down_since=None, not_ready=False)

    def _set_image(self, image: str, rollback: bool) -> None:
        dep, sets = self.s["deployment"], self.s["replicasets"]
        name = rs_name(image)
        revision = max(rs["revision"] for rs in sets.values()) + 1
        if name in sets:
            sets[name]["revision"] = revision  # a rollback reuses the old ReplicaSet
        else:
            sets[name] = {"image": image, "revision": revision, "replicas": 0}
        dep["image"] = image
        dep["history"] = [i for i in dep["history"] if i != image] + [image]
        now = self.s["now"]
        self.s["rollout"] = {
            "image": image, "rollback": rollback, "started": now, "last_progress": now,
            "stalled": False, "available": 0,
        }  # fmt: skip

    def _cmd_set_image(self, cmd: dict[str, Any]) -> None:
        if cmd["image"] == self.s["deployment"]["image"]:
            raise CommandError(f"the Deployment already runs {cmd['image']}")
        self._set_image(cmd["image"], False)

    def _cmd_rollback(self, cmd: dict[str, Any]) -> None:
        history = self.s["deployment"]["history"]
        if len(history) < 2:
            raise CommandError("there is no earlier revision to roll back to")
        self._set_image(history[-2], True)

    def _cmd_set_strategy(self, cmd: dict[str, Any]) -> None:
        try:
            surge = parse_int_or_percent(_maybe_int(cmd["max_surge"]), "max_surge")
            unav = parse_int_or_percent(_maybe_int(cmd["max_unavailable"]), "max_unavailable")
        except ScenarioError as err:
            raise CommandError(f"{err.path} {err.reason}") from None
        if surge in (0, "0%") and unav in (0, "0%"):
            raise CommandError("maxSurge and maxUnavailable cannot both be 0")
        self.s["deployment"].update(max_surge=surge, max_unavailable=unav)

    def _cmd_scale(self, cmd: dict[str, Any]) -> None:
        self.s["deployment"]["replicas"] = cmd["replicas"]

    def _cmd_set_load(self, cmd: dict[str, Any]) -> None:
        self.s["load_rps"] = cmd["rps"]

    def _cmd_set_hpa(self, cmd: dict[str, Any]) -> None:
        if cmd["max"] < cmd["min"]:
            raise CommandError("maxReplicas must be at least minReplicas")
        self.s["hpa"].update(
            enabled=cmd["enabled"], min=cmd["min"], max=cmd["max"], target_cpu=cmd["target_cpu"]
        )
        self.s["hpa_recs"] = []

    # ------------------------------------------------------------------ views

    def snapshot(self) -> dict[str, Any]:
        s = self.s
        dep = s["deployment"]
        surge, unav = resolve_surge_unavailable(
            dep["replicas"], dep["max_surge"], dep["max_unavailable"]
        )
        pods = [
            {k: p[k] for k in ("name", "rs", "node", "phase", "ready", "restarts", "hung",
                               "unready", "created")}
            for p in s["pods"]
        ]  # fmt: skip
        sets = []
        for name, rs in sorted(s["replicasets"].items(), key=lambda kv: kv[1]["revision"]):
            mine = [p for p in s["pods"] if p["rs"] == name]
            sets.append({
                "name": name, "image": rs["image"], "revision": rs["revision"],
                "replicas": rs["replicas"], "pods": len(mine),
                "ready": sum(1 for p in mine if p["ready"]), "current": name == rs_name(dep["image"]),
            })  # fmt: skip
        ro = s["rollout"]
        return {
            "t": s["now"],
            "deployment": {
                "name": "web",
                "replicas": dep["replicas"],
                "image": dep["image"],
                "max_surge": dep["max_surge"],
                "max_unavailable": dep["max_unavailable"],
                "surge_abs": surge,
                "unavailable_abs": unav,
                "history": list(dep["history"]),
                "ready": sum(1 for p in s["pods"] if p["ready"]),
                "pods": len(s["pods"]),
                "rollout": None
                if ro is None
                else {
                    "image": ro["image"],
                    "rollback": ro["rollback"],
                    "stalled": ro["stalled"],
                    "started": ro["started"],
                },
            },  # fmt: skip
            "replicasets": sets,
            "nodes": [
                {
                    "name": n["name"],
                    "up": n["up"],
                    "not_ready": n["not_ready"],
                    "capacity": self.sc["pods_per_node"],
                }
                for n in s["nodes"]
            ],  # fmt: skip
            "pods": pods,
            "endpoints": sorted(p["name"] for p in s["pods"] if p["ready"]),
            "hpa": {**s["hpa"], "cpu": self._cpu()},
            "load_rps": s["load_rps"],
            "rps_per_pod": self.sc["rps_per_pod"],
            "counters": dict(s["counters"]),
        }

    def objectives(self) -> list[dict[str, Any]]:
        return [
            {"id": o, "title": OBJECTIVES[o], "met": met, "detail": "done" if met else ""}
            for o, met in self.s["met"].items()
        ]

    def summary(self) -> dict[str, Any]:
        return {**self.s["counters"], "replicas": self.s["deployment"]["replicas"]}

    def dump(self) -> dict[str, Any]:
        return {"sc": copy.deepcopy(self.sc), "s": copy.deepcopy(self.s),
                "rng": self.rng.dump_state()}  # fmt: skip

    @classmethod
    def load(cls, state: dict[str, Any]):
        engine = cls.__new__(cls)
        engine.sc = copy.deepcopy(state["sc"])
        engine.s = copy.deepcopy(state["s"])
        engine.rng = SeededRandom.from_state(state["rng"])
        return engine


def _maybe_int(value: str) -> int | str:
    return int(value) if value.isdigit() else value
