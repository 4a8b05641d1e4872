"""Two-phase commit over the same four services, for contrast with the saga.

Phase 1: the coordinator sends Prepare; each participant does the work, takes its locks, writes
a prepared record and votes. Phase 2: once every vote is in, the coordinator logs its decision
and sends Commit or Abort. A participant that voted yes may not decide alone: if the coordinator
crashes before the decision reaches it, it stays "in doubt", holding its locks, until the
coordinator comes back (presumed abort when no decision was logged).

Two coordinator instances share the work, as transaction managers embedded in two application
servers would: A (the orchestrator lane, the one the learner can crash) and B (never crashed).
While A is down B takes every new order, so B's transactions run into the locks that A's
in-doubt participants still hold.
"""

from __future__ import annotations

from typing import Any

from labs.engines.saga_services import (
    approve_order,
    available,
    create_order,
    payment_row,
    reject_order,
)
from labs.engines.saga_transport import SERVICES, Sim

BLOCKED_AFTER_MS = 2000


def empty_state() -> dict[str, Any]:
    return {
        "txns": {},
        "txn_ids": [],
        "locks": {},
        "waiting": {},
        "prepared": {s: {} for s in SERVICES},
        "votes": {s: {} for s in SERVICES},
        "decided": {s: {} for s in SERVICES},
    }


# -- coordinator -----------------------------------------------------------------------------


def served_by_b(sim: Sim, msg: dict[str, Any]) -> bool:
    """Whether coordinator B handles this message (B is never down)."""
    if msg["kind"] == "PlaceOrder":
        txn = sim.st["tpc"]["txns"].get(sim.st["catalog"][msg["order"]]["saga"])
        if txn is not None:
            return txn["coord"] == "B"
        return not sim.st["orch"]["up"] or int(msg["order"].split("-")[1]) % 2 == 0
    txn = sim.st["tpc"]["txns"].get(msg.get("txn", ""))
    return txn is not None and txn["coord"] == "B"


def on_place_order(sim: Sim, msg: dict[str, Any]) -> None:
    tp = sim.st["tpc"]
    txid = sim.st["catalog"][msg["order"]]["saga"]
    if txid in tp["txns"]:
        sim.received(msg, "duplicate_ignored")
        return
    sim.received(msg, "processed")
    coord = "B" if served_by_b(sim, msg) else "A"
    tp["txns"][txid] = {
        "id": txid,
        "coord": coord,
        "order_id": msg["order"],
        "state": "preparing",
        "votes": {},
        "acks": [],
        "decision": None,
        "started_t": sim.now,
        "ended_t": None,
    }
    tp["txn_ids"].append(txid)
    sim.st["mode_stats"]["two_phase_commit"]["started"] += 1
    sim.emit("txn_started", txn_id=txid, order_id=msg["order"])
    sim.log(
        f"coordinator {coord}", msg["order"], f"{txid}: begin, PREPARE sent to all participants"
    )
    for svc in SERVICES:
        sim.send("tpc", "orchestrator", svc, "Prepare", f"{txid}/prepare", msg["order"], txn=txid)


def on_coordinator_message(sim: Sim, msg: dict[str, Any]) -> None:
    txn = sim.st["tpc"]["txns"].get(msg.get("txn", ""))
    if txn is None:
        sim.received(msg, "stale_ignored")
        return
    svc = msg["src"]
    if msg["kind"] in ("VoteYes", "VoteNo"):
        if txn["state"] != "preparing" or svc in txn["votes"]:
            sim.received(msg, "stale_ignored")
            return
        sim.received(msg, "processed")
        txn["votes"][svc] = "yes" if msg["kind"] == "VoteYes" else "no"
        if txn["votes"][svc] == "no":
            _decide(sim, txn, "abort")
        elif len(txn["votes"]) == len(SERVICES):
            if sim.st["orch"]["crash_armed"] and txn["coord"] == "A":
                from labs.engines.saga_orchestrator import crash

                crash(sim)  # every participant is prepared and no decision is logged
                return
            _decide(sim, txn, "commit")
        return
    if svc in txn["acks"] or txn["state"] in ("committed", "aborted"):
        sim.received(msg, "stale_ignored")
        return
    sim.received(msg, "processed")
    txn["acks"].append(svc)
    if len(txn["acks"]) == len(SERVICES):
        txn["state"] = "committed" if txn["decision"] == "commit" else "aborted"
        txn["ended_t"] = sim.now
        mode_stats = sim.st["mode_stats"]["two_phase_commit"]
        mode_stats["completed" if txn["decision"] == "commit" else "compensated"] += 1
        sim.emit(f"txn_{txn['state']}", txn_id=txn["id"], order_id=txn["order_id"])
        sim.log(f"coordinator {txn['coord']}", txn["order_id"], f"{txn['id']}: {txn['state']}")


def _decide(sim: Sim, txn: dict[str, Any], decision: str) -> None:
    txn["decision"] = decision
    txn["state"] = "committing" if decision == "commit" else "aborting"
    sim.emit("txn_decision", txn_id=txn["id"], order_id=txn["order_id"], decision=decision)
    sim.log(f"coordinator {txn['coord']}", txn["order_id"],
            f"{txn['id']}: decision {decision.upper()} logged")  # fmt: skip
    _send_decision(sim, txn)


def _send_decision(sim: Sim, txn: dict[str, Any]) -> None:
    kind = "Commit" if txn["decision"] == "commit" else "Abort"
    for svc in SERVICES:
        if svc not in txn["acks"]:
            sim.send("tpc", "orchestrator", svc, kind, f"{txn['id']}/{txn['decision']}",
                     txn["order_id"], txn=txn["id"])  # fmt: skip


def in_doubt(sim: Sim) -> list[dict[str, Any]]:
    """Participants that voted yes and have not yet heard the decision."""
    tp = sim.st["tpc"]
    rows = []
    for svc in SERVICES:
        for txid, since in tp["prepared"][svc].items():
            rows.append({"participant": svc, "txn": txid, "since_ms": since,
                         "order_id": tp["txns"][txid]["order_id"]})  # fmt: skip
    return rows


def on_coordinator_crash(sim: Sim) -> None:
    tp = sim.st["tpc"]
    open_txns = [
        t
        for t in tp["txn_ids"]
        if tp["txns"][t]["decision"] is None and tp["txns"][t]["coord"] == "A"
    ]
    if open_txns:
        sim.st["flags"]["tpc_crash_open"] = open_txns
        sim.schedule(sim.now + BLOCKED_AFTER_MS, "check_blocked", sim.st["orch"]["epoch"])


def on_check_blocked(sim: Sim, epoch: int) -> None:
    st = sim.st
    if st["orch"]["epoch"] != epoch or st["orch"]["up"]:
        return
    txns = st["tpc"]["txns"]
    doubt = [
        row for row in in_doubt(sim)
        if txns[row["txn"]]["decision"] is None and txns[row["txn"]]["coord"] == "A"
    ]  # fmt: skip
    if not doubt:
        return
    waiting = sum(len(q) for q in st["tpc"]["waiting"].values())
    st["flags"]["tpc_blocked"] = True
    sim.emit("participants_blocked", in_doubt=len(doubt), locks=len(st["tpc"]["locks"]),
             waiting=waiting)  # fmt: skip
    queued = f"; {waiting} transactions queued behind their locks" if waiting else ""
    sim.log("coordinator A", "", f"{len(doubt)} participants in doubt, holding locks{queued}")


def on_coordinator_restart(sim: Sim) -> None:
    tp = sim.st["tpc"]
    for txid in tp["txn_ids"]:
        txn = tp["txns"][txid]
        if txn["state"] in ("committed", "aborted") or txn["coord"] != "A":
            continue
        if txn["decision"] is None:
            sim.log("coordinator A", txn["order_id"], f"{txid}: no decision in the log, "
                    "presumed abort")  # fmt: skip
            _decide(sim, txn, "abort")
        else:
            _send_decision(sim, txn)


# -- participants ----------------------------------------------------------------------------


def handle_participant(sim: Sim, svc: str, msg: dict[str, Any]) -> None:
    if msg["kind"] == "Prepare":
        _prepare(sim, svc, msg)
    else:
        _finish(sim, svc, msg)


def _vote(sim: Sim, svc: str, msg: dict[str, Any], vote: str) -> None:
    kind = "VoteYes" if vote == "yes" else "VoteNo"
    sim.send("tpc", svc, "orchestrator", kind, f"{msg['txn']}/vote/{svc}", msg["order"],
             txn=msg["txn"])  # fmt: skip


def _prepare(sim: Sim, svc: str, msg: dict[str, Any]) -> None:
    tp = sim.st["tpc"]
    txid, order_id = msg["txn"], msg["order"]
    if txid in tp["votes"][svc]:
        sim.received(msg, "duplicate_ignored")
        _vote(sim, svc, msg, tp["votes"][svc][txid])
        return
    if txid in tp["decided"][svc]:  # the abort overtook the prepare
        sim.received(msg, "processed")
        tp["votes"][svc][txid] = "no"
        _vote(sim, svc, msg, "no")
        return
    info = sim.st["catalog"][order_id]
    if svc == "inventory":
        holder = tp["locks"].get(info["sku"])
        if holder is not None and holder != txid:
            queue = tp["waiting"].setdefault(info["sku"], [])
            if all(m["txn"] != txid for m in queue):
                queue.append(msg)
                sim.emit("lock_wait", txn_id=txid, order_id=order_id, sku=info["sku"],
                         held_by=holder)  # fmt: skip
            sim.received(msg, "waiting_for_lock")
            return
    sim.received(msg, "processed")
    vote = "yes"
    if svc == "order":
        create_order(sim, order_id)
    elif svc == "inventory":
        rate = sim.cfg["faults"]["out_of_stock_rate"]
        if (rate and sim.rng.random() < rate) or available(sim, info["sku"]) < info["qty"]:
            vote = "no"
        else:
            inv = sim.st["inventory"]
            tp["locks"][info["sku"]] = txid  # row lock held until the decision arrives
            inv["reserved"][info["sku"]] += info["qty"]
            inv["by_order"][order_id] = info["qty"]
    elif svc == "payment":
        payment_row(sim, order_id)
        if sim.st["force_decline"] > 0:
            sim.st["force_decline"] -= 1
            vote = "no"
        else:
            rate = sim.cfg["faults"]["payment_decline_rate"]
            vote = "no" if rate and sim.rng.random() < rate else "yes"
    tp["votes"][svc][txid] = vote
    if vote == "yes":
        tp["prepared"][svc][txid] = sim.now
    _vote(sim, svc, msg, vote)


def _finish(sim: Sim, svc: str, msg: dict[str, Any]) -> None:
    tp = sim.st["tpc"]
    txid, order_id = msg["txn"], msg["order"]
    decision = "commit" if msg["kind"] == "Commit" else "abort"
    if txid in tp["decided"][svc]:
        sim.received(msg, "duplicate_ignored")
    else:
        sim.received(msg, "processed")
        tp["decided"][svc][txid] = decision
        was_prepared = tp["prepared"][svc].pop(txid, None) is not None
        info = sim.st["catalog"][order_id]
        if svc == "order":
            (approve_order if decision == "commit" else reject_order)(sim, order_id)
        elif svc == "payment" and decision == "commit" and was_prepared:
            payment_row(sim, order_id)["charged"] += info["amount"]
        elif svc == "shipping" and decision == "commit" and was_prepared:
            sim.st["shipments"][order_id] = sim.st["shipments"].get(order_id, 0) + 1
        elif svc == "inventory":
            sku = info["sku"]
            queue = tp["waiting"].get(sku, [])
            tp["waiting"][sku] = [m for m in queue if m["txn"] != txid]
            if was_prepared:
                inv = sim.st["inventory"]
                qty = inv["by_order"].pop(order_id, 0)
                inv["reserved"][sku] -= qty
                if decision == "commit":
                    inv["on_hand"][sku] -= qty
            if tp["locks"].get(sku) == txid:
                del tp["locks"][sku]
                # wake waiters until one takes the lock (one that votes no leaves it free)
                while tp["waiting"][sku] and sku not in tp["locks"]:
                    _prepare(sim, "inventory", tp["waiting"][sku].pop(0))
    sim.send("tpc", svc, "orchestrator", "Ack", f"{txid}/ack/{svc}", order_id, txn=txid)
