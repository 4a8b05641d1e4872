"""Saga lab engine (slug "saga"): an order saga across Order, Inventory, Payment and Shipping,
run by an orchestrator or by choreography, with a two-phase-commit mode for contrast.

The pieces live in saga_transport (timers, events, the at-least-once transport), saga_services
(local data and operations), saga_orchestrator, saga_choreography, saga_twophase and
saga_scenario (validation, objectives, commands). See docs/labs/saga.md.
"""

from __future__ import annotations

import heapq
import json
from typing import Any, ClassVar

from labs.engines import CommandError, Engine, SeededRandom, check_seed
from labs.engines import saga_choreography as choreo
from labs.engines import saga_orchestrator as orch
from labs.engines import saga_scenario as scen
from labs.engines import saga_twophase as tpc
from labs.engines.saga_commands import SagaCommands
from labs.engines.saga_services import PRICES, SKUS, empty_tables
from labs.engines.saga_transport import SERVICES, Sim

FIRST_ORDER_MS = 100
SNAPSHOT_SAGAS = 300  # sagas, orders, payments stay complete up to this many orders
TERMINAL = ("completed", "compensated")


class SagaEngine(SagaCommands, Engine):
    slug: ClassVar[str] = "saga"
    title: ClassVar[str] = "Sagas: orchestration, choreography and two-phase commit"

    def __init__(self, st: dict[str, Any], rng: SeededRandom) -> None:
        self.sim = Sim(st, rng)

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def default_scenario(cls) -> dict[str, Any]:
        return scen.default_scenario()

    @classmethod
    def command_schema(cls) -> list[dict[str, Any]]:
        return scen.command_schema()

    @classmethod
    def create(cls, scenario: dict[str, Any] | None = None, seed: int = 0) -> SagaEngine:
        seed = check_seed(seed)
        cfg = scen.validate(cls.default_scenario() if scenario is None else scenario)
        idempotent = cfg.pop("idempotent_consumers")
        st: dict[str, Any] = {
            "now": 0,
            "seq": 0,
            "event_seq": 0,
            "heap": [],
            "cfg": cfg,
            "idempotent": idempotent,
            "next_order": 1,
            "orders_to_place": cfg["orders"],
            "gen_scheduled": False,
            "catalog": {},
            "sagas": {},
            "saga_ids": [],
            "dlq": [],
            "force_decline": 0,
            "log": [],
            "down": {s: s in cfg["faults"]["services_down"] for s in SERVICES},
            "orch": {"up": True, "epoch": 0, "crash_armed": False, "crashed_t": None,
                     "crashes": 0, "restart_scheduled": False, "crash_scheduled": False},
            "stats": {"messages": 0, "duplicates_sent": 0, "retries": 0, "timeouts": 0,
                      "double_charges": 0},
            "mode_stats": {m: {"started": 0, "completed": 0, "compensated": 0, "messages": 0,
                               "links": {}} for m in scen.MODES},
            "flags": {},
            "met": {},
            "tpc": tpc.empty_state(),
            **empty_tables(cfg["stock"]),
        }  # fmt: skip
        engine = cls(st, SeededRandom(seed))
        sim = engine.sim
        if cfg["orders"]:
            sim.schedule(FIRST_ORDER_MS, "gen")
            st["gen_scheduled"] = True
        if cfg["faults"]["orchestrator_crash_at_ms"]:
            sim.schedule(cfg["faults"]["orchestrator_crash_at_ms"], "crash")
            st["orch"]["crash_scheduled"] = True
        return engine

    def dump(self) -> dict[str, Any]:
        return {"state": json.loads(json.dumps(self.sim.st)), "rng": self.sim.rng.dump_state()}

    @classmethod
    def load(cls, state: dict[str, Any]) -> SagaEngine:
        st = json.loads(json.dumps(state["state"]))
        return cls(st, SeededRandom.from_state(state["rng"]))

    # -- simulation --------------------------------------------------------------------------

    @property
    def now_ms(self) -> int:
        return self.sim.st["now"]

    def advance(self, to_ms: int) -> list[dict[str, Any]]:
        st, sim = self.sim.st, self.sim
        if to_ms < st["now"]:
            raise ValueError(f"cannot go back in time from {st['now']} to {to_ms}")
        heap = st["heap"]
        while heap and heap[0][0] <= to_ms:
            t, _, kind, data = heapq.heappop(heap)
            st["now"] = t
            self._dispatch(kind, data)
        st["now"] = to_ms
        self._evaluate()
        out, sim.out = sim.out, []
        return out

    def _dispatch(self, kind: str, data: Any) -> None:
        sim, st = self.sim, self.sim.st
        if kind == "deliver":
            self._deliver(data)
        elif kind == "gen":
            self._place_order()
            st["orders_to_place"] -= 1
            if st["orders_to_place"] > 0:
                sim.schedule(sim.now + st["cfg"]["order_interval_ms"], "gen")
            else:
                st["gen_scheduled"] = False
        elif kind == "timeout":
            orch.on_timeout(sim, data)
        elif kind == "resume":
            orch.on_resume_timer(sim, data)
        elif kind == "crash":
            if st["orch"]["crash_scheduled"] and st["orch"]["up"]:  # stop_faults may cancel it
                orch.crash(sim)
            st["orch"]["crash_scheduled"] = False
        elif kind == "restart":
            if data is None or data == st["orch"]["epoch"]:
                orch.restart(sim)
        elif kind == "check_blocked":
            tpc.on_check_blocked(sim, data)
        elif kind == "retry_stuck":
            self._retry_stuck()

    def _deliver(self, msg: dict[str, Any]) -> None:
        sim, st = self.sim, self.sim.st
        dst, proto = msg["dst"], msg["proto"]
        if dst == "orchestrator":
            if proto == "tpc" and tpc.served_by_b(sim, msg):
                if msg["kind"] == "PlaceOrder":
                    tpc.on_place_order(sim, msg)
                else:
                    tpc.on_coordinator_message(sim, msg)
            elif not st["orch"]["up"]:
                sim.received(msg, "endpoint_down")
                sim.redeliver(msg, "orchestrator down")
            elif proto == "orch":
                (orch.on_place_order if msg["kind"] == "PlaceOrder" else orch.on_reply)(sim, msg)
            else:
                if msg["kind"] == "PlaceOrder":
                    tpc.on_place_order(sim, msg)
                else:
                    tpc.on_coordinator_message(sim, msg)
            return
        if st["down"][dst]:
            sim.received(msg, "endpoint_down")
            sim.redeliver(msg, f"{dst} down")
        elif proto == "orch":
            orch.handle_command(sim, dst, msg)
        elif proto == "choreo":
            choreo.handle_event(sim, dst, msg)
        else:
            tpc.handle_participant(sim, dst, msg)

    def _place_order(self) -> None:
        sim, st = self.sim, self.sim.st
        n = st["next_order"]
        st["next_order"] += 1
        order_id = f"o-{n}"
        sku = sim.rng.choice(SKUS)
        qty = sim.rng.randint(1, 3)
        mode = st["cfg"]["mode"]
        st["catalog"][order_id] = {
            "sku": sku,
            "qty": qty,
            "amount": qty * PRICES[sku],
            "mode": mode,
            "saga": f"tx-{n}" if mode == "two_phase_commit" else f"s-{n}",
            "msgs": 0,
        }
        sim.emit("order_placed", order_id=order_id, sku=sku, qty=qty, amount=qty * PRICES[sku],
                 mode=mode)  # fmt: skip
        if mode == "choreography":
            sim.send("choreo", "client", "order", "PlaceOrder", f"{order_id}/place", order_id)
        else:
            proto = "orch" if mode == "orchestration" else "tpc"
            sim.send(proto, "client", "orchestrator", "PlaceOrder", f"{order_id}/place", order_id)

    def _retry_stuck(self) -> None:
        sim, st = self.sim, self.sim.st
        retried = st["flags"].setdefault("retried", [])
        for sid in st["saga_ids"]:
            saga = st["sagas"][sid]
            if saga["status"] == "failed" and saga["mode"] == "orchestration":
                retried.append(sid)
                orch.retry_failed(sim, saga)
        for msg in st["dlq"]:
            retried.append(st["catalog"][msg["order"]]["saga"])
        choreo.retry_dead_letters(sim)

    # -- commands ----------------------------------------------------------------------------

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(command, dict) or not isinstance(command.get("type"), str):
            raise CommandError("a command is a mapping with a 'type'")
        handler = getattr(self, f"_cmd_{command['type']}", None)
        if handler is None:
            known = ", ".join(c["type"] for c in scen.command_schema())
            raise CommandError(f"unknown command {command['type']!r}; known: {known}")
        fields = {c["type"]: c["fields"] for c in scen.command_schema()}[command["type"]]
        allowed = {"type"} | {f["name"] for f in fields}
        extra = sorted(set(command) - allowed)
        if extra:
            raise CommandError(f"unexpected field(s) {', '.join(extra)} for {command['type']}")
        handler(command)  # validates fully before changing anything
        return {"type": "command_applied", "t": self.now_ms, "command": dict(command)}

    # -- objectives, snapshot ----------------------------------------------------------------

    def _records(self) -> list[dict[str, Any]]:
        st = self.sim.st
        return [st["sagas"][s] for s in st["saga_ids"]] + [
            st["tpc"]["txns"][t] for t in st["tpc"]["txn_ids"]
        ]

    def all_done(self) -> bool:
        st = self.sim.st
        if st["orders_to_place"] or not st["catalog"]:
            return False
        records = self._records()
        return len(records) == len(st["catalog"]) and all(
            r.get("status", r.get("state")) in (*TERMINAL, "committed", "aborted") for r in records
        )

    def problems(self) -> list[str]:
        """Consistency violations visible in the services' data (empty when all is well)."""
        st = self.sim.st
        found = []
        for order_id, order in st["order_db"].items():
            row = st["payments"].get(order_id, {"charged": 0, "refunded": 0})
            net = row["charged"] - row["refunded"]
            due = order["amount"] if order["status"] == "approved" else 0
            if order["status"] != "pending" and net != due:
                found.append(f"{order_id} is {order['status']} but charged {net} net")
        inv = st["inventory"]
        for sku in SKUS:
            if inv["reserved"][sku]:
                found.append(f"{inv['reserved'][sku]} {sku} still reserved")
            if inv["on_hand"][sku] < 0:
                found.append(f"{sku} stock is negative")
        return found

    def _evaluate(self) -> None:
        st = self.sim.st
        met, flags, ms = st["met"], st["flags"], st["mode_stats"]
        checks = {
            "all_sagas_done": self.all_done,
            "consistent": lambda: self.all_done() and not self.problems(),
            "saw_compensation": lambda: any(ms[m]["compensated"] for m in scen.MODES[:2]),
            "crash_resumed": lambda: bool(flags.get("crash_running")) and st["orch"]["up"] and all(
                st["sagas"][s]["status"] in TERMINAL for s in flags["crash_running"]),
            "double_charge_seen": lambda: bool(flags.get("double_charge_seen")),
            "double_charge_fixed": lambda: bool(flags.get("double_charge_seen"))
            and st["idempotent"] and self.all_done() and not any(
                "charged" in p for p in self.problems()),
            "compare_modes": lambda: ms["orchestration"]["completed"] >= 5
            and ms["choreography"]["completed"] >= 5,
            "tpc_blocked": lambda: bool(flags.get("tpc_blocked")),
            "tpc_recovered": lambda: bool(flags.get("tpc_blocked")) and st["orch"]["up"] and all(
                st["tpc"]["txns"][t]["state"] in ("committed", "aborted")
                for t in flags.get("tpc_crash_open", [])),
            "stuck_resolved": lambda: any(
                st["sagas"][s]["status"] == "compensated" for s in flags.get("retried", [])),
        }  # fmt: skip
        for oid in st["cfg"]["objectives"]:
            if oid not in met and checks[oid]():
                met[oid] = st["now"]

    def objectives(self) -> list[dict[str, Any]]:
        st = self.sim.st
        out = []
        for oid in st["cfg"]["objectives"]:
            met = oid in st["met"]
            detail = f"met at {st['met'][oid] / 1000:.1f} s" if met else self._progress(oid)
            out.append({"id": oid, "title": scen.OBJECTIVES[oid], "met": met, "detail": detail})
        return out

    def _progress(self, oid: str) -> str:
        st = self.sim.st
        records = self._records()
        ended = sum(r.get("status", r.get("state")) in (*TERMINAL, "committed", "aborted")
                    for r in records)  # fmt: skip
        if oid in ("all_sagas_done", "consistent", "double_charge_fixed"):
            problems = self.problems()
            text = f"{ended}/{len(st['catalog']) + st['orders_to_place']} finished"
            return text + (f"; {problems[0]}" if problems and oid != "all_sagas_done" else "")
        if oid == "compare_modes":
            ms = st["mode_stats"]
            return (f"orchestration {ms['orchestration']['completed']}/5, "
                    f"choreography {ms['choreography']['completed']}/5")  # fmt: skip
        return "not yet"

    @property
    def finished(self) -> bool:
        st = self.sim.st
        return self.all_done() and all(o in st["met"] for o in st["cfg"]["objectives"])

    def snapshot(self) -> dict[str, Any]:
        st = self.sim.st
        saga_ids = st["saga_ids"][-SNAPSHOT_SAGAS:]
        sagas = [
            {"id": s["id"], "order_id": s["order_id"], "status": s["status"],
             "steps": [dict(step) for step in s["steps"]]}
            for s in (st["sagas"][sid] for sid in saga_ids)
        ]  # fmt: skip
        # every placed order, pending until the Order service has it and its saga has ended
        order_ids = list(st["catalog"])[-SNAPSHOT_SAGAS:]
        orders = {
            o: dict(
                st["order_db"].get(o) or {"status": "pending", "amount": st["catalog"][o]["amount"]}
            )
            for o in order_ids
        }
        payments = {
            o: dict(st["payments"].get(o) or {"charged": 0, "refunded": 0}) for o in order_ids
        }
        in_flight = sorted(
            (e for e in st["heap"] if e[2] == "deliver"), key=lambda e: (e[0], e[1])
        )[:60]
        tp = st["tpc"]
        return {
            "mode": st["cfg"]["mode"],
            "now_ms": st["now"],
            "idempotent_consumers": st["idempotent"],
            "faults": {k: st["cfg"]["faults"][k] for k in scen.RATE_FAULTS},
            "orchestrator": {k: st["orch"][k] for k in ("up", "crashed_t", "crash_armed",
                                                         "crashes", "restart_scheduled")},
            "services": {s: {"up": not st["down"][s], "processed": len(st["processed"][s])}
                         for s in SERVICES},
            "steps": [dict(s) for s in orch.STEPS],
            "sagas": sagas,
            "orders": orders,
            "payments": payments,
            "inventory": {"on_hand": dict(st["inventory"]["on_hand"]),
                          "reserved": dict(st["inventory"]["reserved"])},
            "reservations": dict(list(st["inventory"]["by_order"].items())[-30:]),
            "shipments": dict(list(st["shipments"].items())[-30:]),
            "saga_log": [dict(e) for e in st["log"]],
            "in_flight": [{"id": m["id"], "src": m["src"], "dst": m["dst"], "kind": m["kind"],
                           "order_id": m["order"], "sent_t": m["sent_t"], "arrive_t": t}
                          for t, _, _, m in in_flight],
            "comparison": {m: self._mode_summary(m) for m in scen.MODES},
            "stats": dict(st["stats"]),
            "orders_to_place": st["orders_to_place"],
            "dead_letters": len(st["dlq"]),
            "two_pc": {
                "transactions": [
                    {k: tp["txns"][t][k] for k in ("id", "coord", "order_id", "state", "votes", "decision")}
                    for t in tp["txn_ids"][-40:]],
                "locks": dict(tp["locks"]),
                "waiting": {sku: [m["txn"] for m in q] for sku, q in tp["waiting"].items() if q},
                "in_doubt": tpc.in_doubt(self.sim)[:40],
            },
        }  # fmt: skip

    def _mode_summary(self, mode: str) -> dict[str, Any]:
        ms = self.sim.st["mode_stats"][mode]
        ended = ms["completed"] + ms["compensated"]
        links = sorted(ms["links"])
        peers = {"client", "orchestrator"}
        service_links = sorted(
            {
                "-".join(sorted(link.split(">")))
                for link in links
                if not set(link.split(">")) & peers
            }
        )
        return {
            "started": ms["started"],
            "completed": ms["completed"],
            "compensated": ms["compensated"],
            "messages": ms["messages"],
            "messages_per_saga": round(ms["messages"] / ended, 1) if ended else None,
            "links": links,
            "service_to_service_links": service_links,
        }

    def summary(self) -> dict[str, Any]:
        st = self.sim.st
        statuses: dict[str, int] = {}
        for record in self._records():
            status = record.get("status", record.get("state"))
            statuses[status] = statuses.get(status, 0) + 1
        return {
            "orders": len(st["catalog"]),
            "outcomes": statuses,
            "messages": st["stats"]["messages"],
            "double_charges": st["stats"]["double_charges"],
            "problems": len(self.problems()),
            "objectives_met": sorted(st["met"]),
        }
