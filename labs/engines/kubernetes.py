"""Kubernetes lab: a Deployment's control loops made visible (see docs/labs/kubernetes.md).

Every TICK_MS the simulation runs, in order: the node controller (a node silent for longer than
the grace period is marked NotReady and its pods evicted), the kubelets (image pulls, container
crashes with back-off, liveness and readiness probes), the HorizontalPodAutoscaler (every sync
period), the Deployment controller (rolling update between ReplicaSets), the ReplicaSet
controller (create or delete pods to match each ReplicaSet's replicas) and the scheduler (bind
pending pods to the least-loaded ready node). Desired state lives in the Deployment and the
ReplicaSets; observed state is the pods.
"""

from __future__ import annotations

import copy
from typing import Any

from labs.engines import Engine, SeededRandom, check_seed
from labs.engines.kubernetes_commands import CommandsMixin
from labs.engines.kubernetes_core import (
    COMMANDS,
    IMAGES,
    hpa_desired_replicas,
    resolve_surge_unavailable,
    rs_name,
    validate,
)

__all__ = ["KubernetesEngine", "hpa_desired_replicas", "resolve_surge_unavailable"]

TICK_MS = 250
PROBE_PERIOD_MS = 1000
LIVENESS_FAILURES = 3
CRASH_AFTER_MS = 1000
SUFFIX = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names


def _backoff(attempt: int) -> int:
    # Kubelet back-off doubles from 10 s to 5 min; lab-sized here: 2 s doubling to 20 s.
    return min(20_000, 2000 * 2 ** max(0, attempt - 1))


class KubernetesEngine(CommandsMixin, Engine):
    slug = "kubernetes"
    title = "Kubernetes: self-healing, rolling updates and autoscaling"

    @classmethod
    def default_scenario(cls) -> dict[str, Any]:
        return {"nodes": 3, "replicas": 4, "objectives": ["pod_replaced", "node_failover"]}

    @classmethod
    def command_schema(cls) -> list[dict[str, Any]]:
        return copy.deepcopy(COMMANDS)

    @classmethod
    def create(cls, scenario: dict[str, Any] | None = None, seed: int = 0) -> KubernetesEngine:
        if scenario is None:
            scenario = cls.default_scenario()
        check_seed(seed)
        sc = validate(scenario)
        e = cls.__new__(cls)
        e.rng = SeededRandom(seed)
        e.sc = sc
        image = sc["image"]
        e.s = {
            "now": 0,
            "nodes": [
                {"name": f"node-{i + 1}", "up": True, "down_since": None, "not_ready": False}
                for i in range(sc["nodes"])
            ],
            "deployment": {
                "replicas": sc["replicas"],
                "image": image,
                "max_surge": sc["max_surge"],
                "max_unavailable": sc["max_unavailable"],
                "history": [image],
            },  # fmt: skip
            "replicasets": {rs_name(image): {"image": image, "revision": 1, "replicas": 0}},
            "pods": [],
            "rollout": None,
            "hpa": dict(sc["hpa"]),
            "hpa_recs": [],
            "load_rps": sc["load_rps"],
            "met": {o: False for o in sc["objectives"]},
            "pending": {},  # objective -> armed by a learner action
            "counters": {"created": 0, "deleted": 0, "restarts": 0, "evicted": 0, "hpa": 0},
        }
        # Start from a settled cluster: the pods already run and are ready.
        rs = e.s["replicasets"][rs_name(image)]
        rs["replicas"] = sc["replicas"]
        healthy = IMAGES[image] == "ok"
        for _ in range(sc["replicas"]):
            pod = e._new_pod(rs_name(image), 0)
            e._schedule(pod)
            if pod["node"] is not None and healthy:
                pod.update(phase="Running", ready=True, t_ready=0)
        return e

    # ------------------------------------------------------------------ helpers

    @property
    def now_ms(self) -> int:
        return self.s["now"]

    def _new_pod(self, rs: str, t: int) -> dict[str, Any]:
        suffix = "".join(SUFFIX[int(self.rng.random() * len(SUFFIX))] for _ in range(5))
        pod = {
            "name": f"{rs}-{suffix}", "rs": rs, "node": None, "phase": "Pending",
            "ready": False, "created": t, "t_next": None, "t_ready": None, "t_crash": None,
            "restarts": 0, "hung": False, "probe_fail": 0, "unready": False,
        }  # fmt: skip
        self.s["pods"].append(pod)
        self.s["counters"]["created"] += 1
        return pod

    def _node(self, name: str) -> dict[str, Any] | None:
        return next((n for n in self.s["nodes"] if n["name"] == name), None)

    def _schedule(self, pod: dict[str, Any]) -> str | None:
        cap = self.sc["pods_per_node"]
        load = {n["name"]: 0 for n in self.s["nodes"] if not n["not_ready"]}
        for p in self.s["pods"]:
            if p["node"] in load:
                load[p["node"]] += 1
        free = [name for name, used in load.items() if used < cap]
        if not free:
            return None
        pod["node"] = min(free, key=lambda name: (load[name], name))
        return pod["node"]

    def _endpoints(self) -> list[dict[str, Any]]:
        return [p for p in self.s["pods"] if p["ready"]]

    def _meet(self, objective: str) -> None:
        if objective in self.s["met"]:
            self.s["met"][objective] = True

    # ------------------------------------------------------------------ running

    def advance(self, to_ms: int) -> list[dict[str, Any]]:
        if isinstance(to_ms, bool) or not isinstance(to_ms, int):
            raise ValueError("to_ms must be an integer")
        if to_ms < self.s["now"]:
            raise ValueError(f"cannot go back in time from {self.s['now']} to {to_ms}")
        events: list[dict[str, Any]] = []
        t = (self.s["now"] // TICK_MS + 1) * TICK_MS
        while t <= to_ms:
            self._tick(t, events)
            t += TICK_MS
        self.s["now"] = to_ms
        return events

    def _tick(self, t: int, events: list) -> None:
        self._node_controller(t, events)
        self._kubelets(t, events)
        if self.s["hpa"]["enabled"] and t % (self.s["hpa"]["sync_s"] * 1000) == 0:
            self._hpa(t, events)
        self._deployment_controller(t, events)
        self._replicaset_controller(t, events)
        for pod in self.s["pods"]:
            if pod["node"] is None and self._schedule(pod):
                pod.update(phase="ContainerCreating", t_next=t + self.sc["pull_ms"])
                events.append({"t": t, "type": "pod_scheduled", "pod": pod["name"],
                               "node": pod["node"]})  # fmt: skip
        self._check_objectives(t, events)
        if t % 1000 == 0:
            events.append({"t": t, "type": "stats", **self._stats()})

    def _stats(self) -> dict[str, Any]:
        pods = self.s["pods"]
        endpoints = self._endpoints()
        dead = {n["name"] for n in self.s["nodes"] if not n["up"]}
        return {
            "desired": self.s["deployment"]["replicas"],
            "pods": len(pods),
            "ready": len(endpoints),
            "failing_endpoints": sum(1 for p in endpoints if p["node"] in dead),
            "cpu": self._cpu(),
        }

    def _cpu(self) -> int:
        ready = len(self._endpoints())
        if not ready:
            return 0
        return round(100 * self.s["load_rps"] / (ready * self.sc["rps_per_pod"]))

    def _node_controller(self, t: int, events: list) -> None:
        grace = self.sc["node_grace_s"] * 1000
        for node in self.s["nodes"]:
            if node["up"] or node["not_ready"] or t - node["down_since"] < grace:
                continue
            node["not_ready"] = True
            gone = [p for p in self.s["pods"] if p["node"] == node["name"]]
            self.s["pods"] = [p for p in self.s["pods"] if p["node"] != node["name"]]
            self.s["counters"]["evicted"] += len(gone)
            events.append({"t": t, "type": "node_not_ready", "node": node["name"],
                           "evicted": [p["name"] for p in gone]})  # fmt: skip

    def _kubelets(self, t: int, events: list) -> None:
        up = {n["name"] for n in self.s["nodes"] if n["up"]}
        probe = t % PROBE_PERIOD_MS == 0
        for pod in self.s["pods"]:
            if pod["node"] not in up:
                continue  # unscheduled, or its node is silent: nothing changes
            phase = pod["phase"]
            behaviour = IMAGES[self.s["replicasets"][pod["rs"]]["image"]]
            if phase == "ContainerCreating" and t >= pod["t_next"]:
                if behaviour == "missing":
                    pod["restarts"] += 1
                    pod.update(phase="ImagePullBackOff", t_next=t + _backoff(pod["restarts"]))
                    events.append({"t": t, "type": "pod_status", "pod": pod["name"],
                                   "phase": "ImagePullBackOff"})  # fmt: skip
                else:
                    self._start_container(pod, t, behaviour, events)
            elif phase == "ImagePullBackOff" and t >= pod["t_next"]:
                pod.update(phase="ContainerCreating", t_next=t + self.sc["pull_ms"])
            elif phase == "CrashLoopBackOff" and t >= pod["t_next"]:
                self._start_container(pod, t, behaviour, events)
            elif phase == "Running":
                if pod["t_crash"] is not None and t >= pod["t_crash"]:
                    pod["restarts"] += 1
                    self.s["counters"]["restarts"] += 1
                    pod.update(phase="CrashLoopBackOff", ready=False, t_crash=None,
                               t_next=t + _backoff(pod["restarts"]))  # fmt: skip
                    events.append({"t": t, "type": "pod_status", "pod": pod["name"],
                                   "phase": "CrashLoopBackOff", "restarts": pod["restarts"]})  # fmt: skip
                    continue
                if probe and pod["hung"]:
                    pod["probe_fail"] += 1
                    if pod["probe_fail"] >= LIVENESS_FAILURES:
                        pod["restarts"] += 1
                        self.s["counters"]["restarts"] += 1
                        pod.update(hung=False, probe_fail=0, ready=False,
                                   t_ready=t + self.sc["ready_delay_ms"])  # fmt: skip
                        self._meet("liveness_restart")
                        events.append({"t": t, "type": "liveness_restart", "pod": pod["name"],
                                       "restarts": pod["restarts"]})  # fmt: skip
                        continue
                ready = t >= pod["t_ready"] and not pod["unready"] and not pod["hung"]
                if ready != pod["ready"]:
                    pod["ready"] = ready
                    if not ready and pod["unready"]:
                        self._meet("readiness_endpoint")
                    events.append({"t": t, "type": "pod_ready" if ready else "pod_not_ready",
                                   "pod": pod["name"]})  # fmt: skip

    def _start_container(self, pod: dict, t: int, behaviour: str, events: list) -> None:
        pod.update(
            phase="Running", ready=False, t_ready=t + self.sc["ready_delay_ms"], hung=False,
            probe_fail=0, t_crash=t + CRASH_AFTER_MS if behaviour == "crash" else None,
        )  # fmt: skip
        events.append({"t": t, "type": "pod_status", "pod": pod["name"], "phase": "Running"})

    def _hpa(self, t: int, events: list) -> None:
        hpa, dep = self.s["hpa"], self.s["deployment"]
        if not self._endpoints():
            return  # no metrics to act on
        current = dep["replicas"]
        cpu = self._cpu()
        rec = hpa_desired_replicas(current, cpu, hpa["target_cpu"], 0.1, hpa["min"], hpa["max"])
        # Default behaviour: scale up by at most max(100 %, 4 pods) per period; scale down to
        # the highest recommendation of the stabilisation window.
        window = hpa["downscale_window_s"] * 1000
        recs = [r for r in self.s["hpa_recs"] if t - r[0] < window] + [[t, rec]]
        self.s["hpa_recs"] = recs
        if rec > current:
            desired = min(rec, max(2 * current, current + 4))
        else:
            desired = min(current, max(r[1] for r in recs))
        if desired != current:
            dep["replicas"] = desired
            self.s["counters"]["hpa"] += 1
            self._meet("hpa_scaled_up" if desired > current else "hpa_scaled_down")
            events.append({"t": t, "type": "hpa_scaled", "from": current, "to": desired,
                           "cpu": cpu, "target": hpa["target_cpu"]})  # fmt: skip

    def _available(self, rs: str) -> int:
        return sum(1 for p in self.s["pods"] if p["rs"] == rs and p["ready"])

    def _deployment_controller(self, t: int, events: list) -> None:
        dep, sets = self.s["deployment"], self.s["replicasets"]
        new_name = rs_name(dep["image"])
        new = sets[new_name]
        replicas = dep["replicas"]
        olds = sorted(
            (n for n, rs in sets.items() if n != new_name and rs["replicas"] > 0),
            key=lambda n: sets[n]["revision"],
        )
        before = {n: rs["replicas"] for n, rs in sets.items()}
        if not olds:
            new["replicas"] = replicas
        else:
            surge, unavailable = resolve_surge_unavailable(
                replicas, dep["max_surge"], dep["max_unavailable"]
            )
            total = sum(rs["replicas"] for rs in sets.values())
            if new["replicas"] < replicas:
                grow = min(replicas + surge - total, replicas - new["replicas"])
                if grow > 0:
                    new["replicas"] += grow
            elif new["replicas"] > replicas:
                new["replicas"] = replicas
            # Scale old ReplicaSets down (as the Deployment controller's reconcileOldReplicaSets).
            all_pods = sum(rs["replicas"] for rs in sets.values())
            min_available = replicas - unavailable
            new_unavailable = new["replicas"] - self._available(new_name)
            budget = all_pods - min_available - new_unavailable
            if budget > 0:
                for name in olds:  # first the old pods that are not available anyway
                    rs = sets[name]
                    unhealthy = rs["replicas"] - self._available(name)
                    cut = min(max(0, unhealthy), budget)
                    rs["replicas"] -= cut
                    budget -= cut
                available = sum(self._available(n) for n in sets)
                budget = available - min_available
                for name in olds:
                    if budget <= 0:
                        break
                    rs = sets[name]
                    cut = min(rs["replicas"], budget)
                    rs["replicas"] -= cut
                    budget -= cut
        changed = {n: rs["replicas"] for n, rs in sets.items() if rs["replicas"] != before[n]}
        for name, count in changed.items():
            events.append({"t": t, "type": "rs_scaled", "rs": name, "from": before[name],
                           "to": count})  # fmt: skip
        self._track_rollout(t, new_name, replicas, bool(changed), events)

    def _track_rollout(self, t: int, new_name: str, replicas: int, changed: bool, events) -> None:
        ro = self.s["rollout"]
        if ro is None:
            return
        available = self._available(new_name)
        if changed or available > ro["available"]:
            ro["last_progress"] = t
        ro["available"] = available
        sets = self.s["replicasets"]
        others = sum(rs["replicas"] for n, rs in sets.items() if n != new_name)
        if others == 0 and available == replicas and sets[new_name]["replicas"] == replicas:
            events.append({"t": t, "type": "rollout_complete", "image": ro["image"],
                           "rollback": ro["rollback"], "took_ms": t - ro["started"]})  # fmt: skip
            self._meet("rolled_back" if ro["rollback"] else "rollout_complete")
            self.s["rollout"] = None
        elif not ro["stalled"] and t - ro["last_progress"] > self.sc["progress_deadline_s"] * 1000:
            ro["stalled"] = True
            self._meet("rollout_stalled")
            events.append({"t": t, "type": "rollout_stalled", "image": ro["image"],
                           "reason": "ProgressDeadlineExceeded"})  # fmt: skip

    def _replicaset_controller(self, t: int, events: list) -> None:
        for name, rs in self.s["replicasets"].items():
            mine = [p for p in self.s["pods"] if p["rs"] == name]
            diff = rs["replicas"] - len(mine)
            for _ in range(diff):
                pod = self._new_pod(name, t)
                events.append({"t": t, "type": "pod_created", "pod": pod["name"], "rs": name})
            if diff < 0:
                # Delete unscheduled, then not-ready, then most restarted, then newest first.
                mine.sort(key=lambda p: (p["node"] is not None, p["ready"], -p["restarts"],
                                         -p["created"]))  # fmt: skip
                doomed = {p["name"] for p in mine[:-diff]}
                self.s["pods"] = [p for p in self.s["pods"] if p["name"] not in doomed]
                self.s["counters"]["deleted"] += len(doomed)
                for name_ in sorted(doomed):
                    events.append({"t": t, "type": "pod_deleted", "pod": name_,
                                   "reason": "scaled down"})  # fmt: skip

    def _check_objectives(self, t: int, events: list) -> None:
        pending = self.s["pending"]
        if not pending:
            return
        replicas = self.s["deployment"]["replicas"]
        ready = self._endpoints()
        settled = len(ready) == replicas and len(self.s["pods"]) == replicas
        if "pod_replaced" in pending and settled:
            del pending["pod_replaced"]
            self._meet("pod_replaced")
        down = {n["name"] for n in self.s["nodes"] if not n["up"]}
        if (
            "node_failover" in pending
            and settled
            and down
            and not any(p["node"] in down for p in ready)
        ):
            del pending["node_failover"]
            self._meet("node_failover")
