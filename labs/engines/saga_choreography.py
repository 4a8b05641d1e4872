"""Choreographed saga: no coordinator; each service reacts to the others' events.

The saga records in the snapshot are a trace (what a distributed-tracing view would show):
nobody in the system owns them, which is exactly what choreography trades away.
"""

from __future__ import annotations

from typing import Any

from labs.engines.saga_orchestrator import finish, new_saga
from labs.engines.saga_services import OPERATIONS, TECHNICAL_FAILURE
from labs.engines.saga_transport import Sim

# event -> the services subscribed to it
SUBSCRIPTIONS: dict[str, tuple[str, ...]] = {
    "OrderCreated": ("inventory",),
    "StockReserved": ("payment",),
    "StockUnavailable": ("order",),
    "PaymentCharged": ("shipping",),
    "PaymentDeclined": ("inventory",),
    "StockReleased": ("order",),
    "ShipmentScheduled": ("inventory",),
    "ReservationConfirmed": ("order",),
}
# (service, event) -> the local transaction it runs
REACTIONS: dict[tuple[str, str], str] = {
    ("order", "PlaceOrder"): "create_order",
    ("inventory", "OrderCreated"): "reserve_stock",
    ("payment", "StockReserved"): "charge_payment",
    ("order", "StockUnavailable"): "reject_order",
    ("shipping", "PaymentCharged"): "schedule_shipping",
    ("inventory", "PaymentDeclined"): "release_stock",
    ("order", "StockReleased"): "reject_order",
    ("inventory", "ShipmentScheduled"): "confirm_reservation",
    ("order", "ReservationConfirmed"): "approve_order",
}
# outcome -> (step index, new status) in the trace
_FORWARD = {
    "OrderCreated": 0,
    "StockReserved": 1,
    "PaymentCharged": 2,
    "ShipmentScheduled": 3,
    "ReservationConfirmed": 4,
    "OrderApproved": 5,
}
_FAILED = {"StockUnavailable": 1, "PaymentDeclined": 2}
_COMPENSATED = {"StockReleased": 1, "OrderRejected": 0}


def handle_event(sim: Sim, service: str, msg: dict[str, Any]) -> None:
    st = sim.st
    op = REACTIONS.get((service, msg["kind"]))
    if op is None:
        sim.received(msg, "ignored")
        return
    table = st["processed"][service]
    mid = msg["id"]
    seen = mid in table
    if seen and st["idempotent"]:
        sim.received(msg, "duplicate_ignored")
        return
    result = OPERATIONS[op][1](sim, msg["order"])
    if result == TECHNICAL_FAILURE:
        sim.received(msg, "failed")
        fails = msg.get("fails", 0) + 1
        limit = sim.cfg["compensation_max_attempts"]
        saga = st["sagas"].get(st["catalog"][msg["order"]]["saga"])
        if limit and fails >= limit:
            st["dlq"].append(dict(msg, fails=0, attempt=0))  # parked for manual action
            if saga is not None and saga["status"] == "running":
                saga["status"] = "failed"
                sim.emit("saga_failed", saga_id=saga["id"], order_id=saga["order_id"], step=op,
                         attempts=fails)  # fmt: skip
                sim.log(service, msg["order"], f"{op} keeps failing: parked in the dead-letter "
                        "queue")  # fmt: skip
            return
        sim.redeliver(dict(msg, fails=fails), f"{op} failed")
        return
    table[mid] = result
    sim.received(msg, "reprocessed" if seen else "processed")
    if op == "create_order" and st["catalog"][msg["order"]]["saga"] not in st["sagas"]:
        new_saga(sim, msg["order"], "choreography")
    _trace(sim, msg["order"], result, service)
    publish(sim, service, result, msg["order"])


def publish(sim: Sim, service: str, event: str, order_id: str) -> None:
    subscribers = SUBSCRIPTIONS.get(event, ())
    if not subscribers:
        return
    eid = sim.new_event_id()  # one event id for every subscriber: each dedupes on its own table
    for sub in subscribers:
        sim.send("choreo", service, sub, event, eid, order_id)


def _trace(sim: Sim, order_id: str, result: str, service: str) -> None:
    st = sim.st
    saga = st["sagas"].get(st["catalog"][order_id]["saga"])
    if saga is None or saga["status"] not in ("running", "failed"):
        return
    if saga["status"] == "failed":
        if result not in _COMPENSATED:
            return
        # a delayed copy of the parked event got through after all: the saga is unstuck
        saga["status"] = "running"
        st["dlq"] = [m for m in st["dlq"] if m["order"] != order_id]
    steps = saga["steps"]
    ids = {"saga_id": saga["id"], "order_id": order_id}
    if result in _FORWARD:
        step = steps[_FORWARD[result]]
        if step["status"] == "pending" and saga["dir"] == "forward":
            step["status"] = "done"
            sim.emit("step_done", step=step["name"], **ids)
            sim.log(service, order_id, f"{step['name']} done, published {result}")
            if result == "OrderApproved":
                finish(sim, saga, "completed")
    elif result in _FAILED:
        step = steps[_FAILED[result]]
        if step["status"] == "pending" and saga["dir"] == "forward":
            step["status"] = "failed"
            saga["dir"] = "backward"
            sim.emit("step_failed", step=step["name"], reason=result, **ids)
            sim.log(service, order_id, f"{step['name']} failed, published {result}")
    elif result in _COMPENSATED:
        step = steps[_COMPENSATED[result]]
        if step["status"] == "done" and saga["dir"] == "backward":
            step["status"] = "compensated"
            sim.emit("step_compensated", step=step["name"], compensation=result, **ids)
            sim.log(service, order_id, f"{step['name']} compensated, published {result}")
            if result == "OrderRejected":
                finish(sim, saga, "compensated")


def retry_dead_letters(sim: Sim) -> int:
    """Manual action: put the parked messages back on the wire."""
    st = sim.st
    parked, st["dlq"] = st["dlq"], []
    for msg in parked:
        saga = st["sagas"].get(st["catalog"][msg["order"]]["saga"])
        if saga is not None and saga["status"] == "failed":
            saga["status"] = "running"
            sim.emit("saga_retried", saga_id=saga["id"], order_id=saga["order_id"])
        sim.schedule(sim.now + 1, "deliver", dict(msg, sent_t=sim.now))
    return len(parked)
