"""The four services' local data and business operations (one local transaction each).

Each operation returns the name of the outcome it publishes or replies with. Some operations
are naturally idempotent (setting an order's status, releasing or confirming an order's whole
reservation); reserving stock, charging a card and scheduling a shipment are not, which is what
the processed-message table of an idempotent consumer protects.
"""

from __future__ import annotations

from typing import Any

from labs.engines.saga_transport import Sim

SKUS = ("widget", "gadget", "gizmo")
PRICES = {"widget": 20, "gadget": 35, "gizmo": 50}

SUCCESS = {
    "OrderCreated",
    "StockReserved",
    "PaymentCharged",
    "ShipmentScheduled",
    "ReservationConfirmed",
    "OrderApproved",
    "OrderRejected",
    "StockReleased",
}
BUSINESS_FAILURES = {"StockUnavailable", "PaymentDeclined"}
TECHNICAL_FAILURE = "ReleaseFailed"  # rolled back: not recorded as processed, so it is retried


def empty_tables(stock: dict[str, int]) -> dict[str, Any]:
    return {
        "order_db": {},
        "inventory": {
            "on_hand": {sku: stock[sku] for sku in SKUS},
            "reserved": {sku: 0 for sku in SKUS},
            "by_order": {},
        },
        "payments": {},
        "shipments": {},
        "processed": {"order": {}, "inventory": {}, "payment": {}, "shipping": {}},
    }


def _info(sim: Sim, order_id: str) -> dict[str, Any]:
    return sim.st["catalog"][order_id]


# -- Order service ---------------------------------------------------------------------------


def create_order(sim: Sim, order_id: str) -> str:
    db = sim.st["order_db"]
    if order_id not in db:  # the primary key makes a second insert a no-op
        db[order_id] = {"status": "pending", "amount": _info(sim, order_id)["amount"]}
    return "OrderCreated"


def reject_order(sim: Sim, order_id: str) -> str:
    order = sim.st["order_db"].get(order_id)
    if order is None:
        order = sim.st["order_db"][order_id] = {
            "status": "pending",
            "amount": _info(sim, order_id)["amount"],
        }
    if order["status"] == "pending":
        order["status"] = "rejected"
    return "OrderRejected"


def approve_order(sim: Sim, order_id: str) -> str:
    order = sim.st["order_db"].get(order_id)
    if order is not None and order["status"] == "pending":
        order["status"] = "approved"
    return "OrderApproved"


# -- Inventory service -----------------------------------------------------------------------


def available(sim: Sim, sku: str) -> int:
    inv = sim.st["inventory"]
    return inv["on_hand"][sku] - inv["reserved"][sku]


def reserve_stock(sim: Sim, order_id: str) -> str:
    info = _info(sim, order_id)
    sku, qty = info["sku"], info["qty"]
    rate = sim.cfg["faults"]["out_of_stock_rate"]
    if (rate and sim.rng.random() < rate) or available(sim, sku) < qty:
        return "StockUnavailable"
    inv = sim.st["inventory"]
    inv["reserved"][sku] += qty
    inv["by_order"][order_id] = inv["by_order"].get(order_id, 0) + qty
    return "StockReserved"


def release_stock(sim: Sim, order_id: str) -> str:
    rate = sim.cfg["faults"]["compensation_failure_rate"]
    if rate and sim.rng.random() < rate:
        return TECHNICAL_FAILURE
    inv = sim.st["inventory"]
    qty = inv["by_order"].pop(order_id, 0)
    inv["reserved"][_info(sim, order_id)["sku"]] -= qty
    return "StockReleased"


def confirm_reservation(sim: Sim, order_id: str) -> str:
    """The goods leave the shelf: the reservation becomes a deduction from stock on hand."""
    inv = sim.st["inventory"]
    qty = inv["by_order"].pop(order_id, 0)
    sku = _info(sim, order_id)["sku"]
    inv["reserved"][sku] -= qty
    inv["on_hand"][sku] -= qty
    return "ReservationConfirmed"


# -- Payment service -------------------------------------------------------------------------


def payment_row(sim: Sim, order_id: str) -> dict[str, Any]:
    rows = sim.st["payments"]
    if order_id not in rows:
        rows[order_id] = {"charged": 0, "refunded": 0}
    return rows[order_id]


def charge_payment(sim: Sim, order_id: str) -> str:
    row = payment_row(sim, order_id)
    info = _info(sim, order_id)
    if "card_ok" not in info:  # the card network answers the same way for the same card
        st = sim.st
        if st["force_decline"] > 0:
            st["force_decline"] -= 1
            info["card_ok"] = False
        else:
            rate = sim.cfg["faults"]["payment_decline_rate"]
            info["card_ok"] = not (rate and sim.rng.random() < rate)
    if not info["card_ok"]:
        return "PaymentDeclined"
    amount = info["amount"]
    if row["charged"] - row["refunded"] >= amount:
        sim.st["stats"]["double_charges"] += 1
        sim.st["flags"]["double_charge_seen"] = True
        sim.emit("double_charge", order_id=order_id, amount=amount, charged=row["charged"] + amount)
    row["charged"] += amount
    return "PaymentCharged"


# -- Shipping service ------------------------------------------------------------------------


def schedule_shipping(sim: Sim, order_id: str) -> str:
    shipments = sim.st["shipments"]
    shipments[order_id] = shipments.get(order_id, 0) + 1
    return "ShipmentScheduled"


OPERATIONS = {
    "create_order": ("order", create_order),
    "reject_order": ("order", reject_order),
    "approve_order": ("order", approve_order),
    "reserve_stock": ("inventory", reserve_stock),
    "release_stock": ("inventory", release_stock),
    "confirm_reservation": ("inventory", confirm_reservation),
    "charge_payment": ("payment", charge_payment),
    "schedule_shipping": ("shipping", schedule_shipping),
}
