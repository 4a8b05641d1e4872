"""Orchestrated saga: a state machine per saga, persisted in the saga log table, driving the
services with commands and compensating completed steps in reverse order on a failure.

Following Chris Richardson's classification (microservices.io, "Pattern: Saga"): steps before
the pivot are compensatable, the pivot (charging the card) is the go/no-go point, and the steps
after it are retriable: they are retried until they succeed and never fail for business reasons.
"""

from __future__ import annotations

from typing import Any

from labs.engines.saga_services import (
    BUSINESS_FAILURES,
    OPERATIONS,
    TECHNICAL_FAILURE,
)
from labs.engines.saga_transport import Sim, backoff_ms

STEPS: list[dict[str, Any]] = [
    {"name": "create_order", "service": "order", "compensation": "reject_order",
     "kind": "compensatable"},
    {"name": "reserve_stock", "service": "inventory", "compensation": "release_stock",
     "kind": "compensatable"},
    {"name": "charge_payment", "service": "payment", "compensation": None, "kind": "pivot"},
    {"name": "schedule_shipping", "service": "shipping", "compensation": None,
     "kind": "retriable"},
    {"name": "confirm_reservation", "service": "inventory", "compensation": None,
     "kind": "retriable"},
    {"name": "approve_order", "service": "order", "compensation": None, "kind": "retriable"},
]  # fmt: skip
STEP_NAMES = [s["name"] for s in STEPS]


def new_saga(sim: Sim, order_id: str, mode: str) -> dict[str, Any]:
    st = sim.st
    saga_id = st["catalog"][order_id]["saga"]
    saga = {
        "id": saga_id,
        "order_id": order_id,
        "mode": mode,
        "status": "running",
        "dir": "forward",
        "steps": [{"name": name, "status": "pending"} for name in STEP_NAMES],
        "cur": None,
        "token": 0,
        "tries": 0,
        "comp_attempts": 0,
        "started_t": sim.now,
        "ended_t": None,
    }
    st["sagas"][saga_id] = saga
    st["saga_ids"].append(saga_id)
    st["mode_stats"][mode]["started"] += 1
    sim.emit("saga_started", saga_id=saga_id, order_id=order_id, mode=mode)
    return saga


def finish(sim: Sim, saga: dict[str, Any], status: str) -> None:
    saga["status"] = status
    saga["ended_t"] = sim.now
    saga["cur"] = None
    sim.st["mode_stats"][saga["mode"]][status] += 1
    sim.emit(f"saga_{status}", saga_id=saga["id"], order_id=saga["order_id"])
    who = "orchestrator" if saga["mode"] == "orchestration" else "trace"
    sim.log(who, saga["order_id"], f"saga {status}")


# -- orchestrator side -----------------------------------------------------------------------


def on_place_order(sim: Sim, msg: dict[str, Any]) -> None:
    saga_id = sim.st["catalog"][msg["order"]]["saga"]
    if saga_id in sim.st["sagas"]:
        sim.received(msg, "duplicate_ignored")
        return
    sim.received(msg, "processed")
    saga = new_saga(sim, msg["order"], "orchestration")
    sim.log("orchestrator", saga["order_id"], "saga started: logged before the first command")
    resume(sim, saga)


def resume(sim: Sim, saga: dict[str, Any]) -> None:
    """Decide the next command from the persisted step states alone (so a restart can call it)."""
    if saga["status"] != "running":
        return
    steps = saga["steps"]
    if saga["dir"] == "forward":
        i = next((n for n, step in enumerate(steps) if step["status"] != "done"), None)
        if i is None:
            finish(sim, saga, "completed")
            return
        steps[i]["status"] = "running"
        _send_command(sim, saga, i, "do")
        return
    for i in range(len(steps) - 1, -1, -1):
        if steps[i]["status"] in ("done", "compensating") and STEPS[i]["compensation"]:
            steps[i]["status"] = "compensating"
            _send_command(sim, saga, i, "undo")
            return
    finish(sim, saga, "compensated")


def _send_command(sim: Sim, saga: dict[str, Any], i: int, direction: str) -> None:
    spec = STEPS[i]
    op = spec["name"] if direction == "do" else spec["compensation"]
    saga["cur"] = [i, direction]
    saga["token"] += 1
    # the id is the same on every resend, so an idempotent consumer can recognise it
    mid = f"{saga['id']}/{op}"
    sim.send(
        "orch", "orchestrator", spec["service"], op, mid, saga["order_id"],
        saga=saga["id"], step=i, dir=direction,
    )  # fmt: skip
    wait = sim.cfg["step_timeout_ms"] * 2 ** min(saga["tries"], 3)
    sim.schedule(
        sim.now + wait,
        "timeout",
        {"saga": saga["id"], "token": saga["token"], "epoch": sim.st["orch"]["epoch"]},
    )


def on_timeout(sim: Sim, data: dict[str, Any]) -> None:
    saga = sim.st["sagas"][data["saga"]]
    if (
        data["epoch"] != sim.st["orch"]["epoch"]
        or data["token"] != saga["token"]
        or saga["status"] != "running"
        or saga["cur"] is None
    ):
        return
    i, direction = saga["cur"]
    op = STEPS[i]["name"] if direction == "do" else STEPS[i]["compensation"]
    saga["tries"] += 1
    sim.st["stats"]["timeouts"] += 1
    sim.emit("timeout", saga_id=saga["id"], order_id=saga["order_id"], step=op,
             tries=saga["tries"])  # fmt: skip
    sim.log("orchestrator", saga["order_id"], f"no reply to {op}: sending it again")
    _send_command(sim, saga, i, direction)


def on_reply(sim: Sim, msg: dict[str, Any]) -> None:
    saga = sim.st["sagas"].get(msg.get("saga", ""))
    if saga is None or saga["status"] != "running" or saga["cur"] != [msg["step"], msg["dir"]]:
        sim.received(msg, "stale_ignored")  # the state machine makes the orchestrator idempotent
        return
    sim.received(msg, "processed")
    i, kind = msg["step"], msg["kind"]
    step = saga["steps"][i]
    saga["cur"] = None
    saga["token"] += 1
    saga["tries"] = 0
    ids = {"saga_id": saga["id"], "order_id": saga["order_id"]}
    if msg["dir"] == "do":
        if kind in BUSINESS_FAILURES:
            step["status"] = "failed"
            saga["dir"] = "backward"
            sim.emit("step_failed", step=step["name"], reason=kind, **ids)
            sim.log(
                "orchestrator", saga["order_id"], f"{step['name']} failed ({kind}): compensating"
            )
        else:
            step["status"] = "done"
            sim.emit("step_done", step=step["name"], **ids)
            sim.log("orchestrator", saga["order_id"], f"{step['name']} done")
    else:
        comp = STEPS[i]["compensation"]
        if kind == TECHNICAL_FAILURE:
            saga["comp_attempts"] += 1
            limit = sim.cfg["compensation_max_attempts"]
            if limit and saga["comp_attempts"] >= limit:
                saga["status"] = "failed"
                sim.emit("saga_failed", step=comp, attempts=saga["comp_attempts"], **ids)
                sim.log("orchestrator", saga["order_id"], f"{comp} keeps failing: stuck, needs "
                        "manual action")  # fmt: skip
                return
            wait = backoff_ms(saga["comp_attempts"] - 1)
            sim.emit("compensation_retry", step=comp, attempt=saga["comp_attempts"],
                     backoff_ms=wait, **ids)  # fmt: skip
            sim.log("orchestrator", saga["order_id"], f"{comp} failed: retry in {wait} ms")
            sim.schedule(sim.now + wait, "resume",
                         {"saga": saga["id"], "epoch": sim.st["orch"]["epoch"]})  # fmt: skip
            return
        step["status"] = "compensated"
        sim.emit("step_compensated", step=step["name"], compensation=comp, **ids)
        sim.log("orchestrator", saga["order_id"], f"{comp} done: {step['name']} compensated")
    if sim.st["orch"]["crash_armed"]:
        crash(sim)  # the step's outcome is logged, the next command is never sent
        return
    resume(sim, saga)


def on_resume_timer(sim: Sim, data: dict[str, Any]) -> None:
    if data["epoch"] == sim.st["orch"]["epoch"]:
        resume(sim, sim.st["sagas"][data["saga"]])


def crash(sim: Sim) -> None:
    st = sim.st
    orch = st["orch"]
    orch["up"] = False
    orch["epoch"] += 1  # everything held in memory (timers) is gone
    orch["crash_armed"] = False
    orch["crashed_t"] = sim.now
    orch["crashes"] += 1
    running = [
        sid for sid in st["saga_ids"]
        if st["sagas"][sid]["status"] == "running" and st["sagas"][sid]["mode"] == "orchestration"
    ]  # fmt: skip
    if running:
        st["flags"]["crash_running"] = running
    sim.emit("orchestrator_crashed", running_sagas=len(running))
    sim.log("orchestrator", "", "CRASHED: in-memory state lost, the saga log survives")
    from labs.engines import saga_twophase  # late import: the two modules call each other

    saga_twophase.on_coordinator_crash(sim)
    if sim.cfg["orchestrator_restart_ms"]:
        sim.schedule(sim.now + sim.cfg["orchestrator_restart_ms"], "restart", orch["epoch"])


def restart(sim: Sim) -> None:
    st = sim.st
    orch = st["orch"]
    orch["restart_scheduled"] = False
    if orch["up"]:
        return
    orch["up"] = True
    orch["crashed_t"] = None
    resumed = 0
    for sid in st["saga_ids"]:
        saga = st["sagas"][sid]
        if saga["mode"] == "orchestration" and saga["status"] == "running":
            saga["cur"] = None
            saga["tries"] = 0
            resume(sim, saga)
            resumed += 1
    sim.emit("orchestrator_restarted", resumed_sagas=resumed)
    sim.log("orchestrator", "", f"restarted: read the saga log, resumed {resumed} sagas")
    from labs.engines import saga_twophase

    saga_twophase.on_coordinator_restart(sim)


def retry_failed(sim: Sim, saga: dict[str, Any]) -> None:
    """Manual action on a stuck saga: run its compensation again."""
    saga["status"] = "running"
    saga["comp_attempts"] = 0
    saga["tries"] = 0
    sim.emit("saga_retried", saga_id=saga["id"], order_id=saga["order_id"])
    sim.log("orchestrator", saga["order_id"], "manual action: retrying the compensation")
    if sim.st["orch"]["up"]:
        resume(sim, saga)


# -- service side ----------------------------------------------------------------------------


def handle_command(sim: Sim, service: str, msg: dict[str, Any]) -> None:
    table = sim.st["processed"][service]
    mid = msg["id"]
    seen = mid in table
    if seen and sim.st["idempotent"]:
        sim.received(msg, "duplicate_ignored")
        _reply(sim, service, msg, table[mid])  # answer again: the first reply may be lost
        return
    result = OPERATIONS[msg["kind"]][1](sim, msg["order"])
    if result == TECHNICAL_FAILURE:
        sim.received(msg, "failed")
    else:
        table[mid] = result  # same local transaction as the business change
        sim.received(msg, "reprocessed" if seen else "processed")
    _reply(sim, service, msg, result)


def _reply(sim: Sim, service: str, msg: dict[str, Any], result: str) -> None:
    sim.send(
        "orch", service, "orchestrator", result, f"{msg['id']}>{result}", msg["order"],
        saga=msg["saga"], step=msg["step"], dir=msg["dir"],
    )  # fmt: skip
