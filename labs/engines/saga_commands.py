"""The learner's commands of the saga lab, as a mixin of SagaEngine.

Each `_cmd_<type>` validates everything first and raises CommandError without changing
anything; effects that produce events are scheduled at now + 1 ms, so that every event stays
inside the next advance().
"""

from __future__ import annotations

from typing import Any

from labs.engines import CommandError
from labs.engines import saga_scenario as scen
from labs.engines.saga_transport import SERVICES, Sim


class SagaCommands:
    sim: Sim
    now_ms: int  # provided by SagaEngine

    def _field(self, command: dict[str, Any], name: str, kind: type | tuple) -> Any:
        if name not in command:
            raise CommandError(f"missing field {name!r}")
        value = command[name]
        if kind is not bool and isinstance(value, bool) or not isinstance(value, kind):
            raise CommandError(f"field {name!r} has the wrong type: {value!r}")
        return value

    def _order(self, command: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        order_id = self._field(command, "order_id", str).strip()
        if order_id not in self.sim.st["catalog"]:
            raise CommandError(f"no order {order_id!r}; order ids look like o-1")
        order = self.sim.st["order_db"].get(order_id)
        if order is None or order["status"] == "pending":
            saga = self.sim.st["catalog"][order_id]["saga"]
            raise CommandError(
                f"order {order_id} is pending: {saga} is still running and holds the order's "
                "semantic lock; try again once it has been approved or rejected"
            )
        return order_id, order

    def _cmd_place_orders(self, command: dict[str, Any]) -> None:
        count = self._field(command, "count", int)
        if not 1 <= count <= 50:
            raise CommandError("count must be between 1 and 50")
        st = self.sim.st
        st["orders_to_place"] += count
        if not st["gen_scheduled"]:
            self.sim.schedule(self.now_ms + 1, "gen")
            st["gen_scheduled"] = True

    def _cmd_cancel_order(self, command: dict[str, Any]) -> None:
        order_id, order = self._order(command)
        if order["status"] == "rejected":
            raise CommandError(f"order {order_id} is already rejected: nothing to cancel")
        raise CommandError(
            f"order {order_id} is approved and shipping: cancelling it now would be a return, "
            "a new saga this lab does not model"
        )

    def _cmd_refund_overcharge(self, command: dict[str, Any]) -> None:
        order_id, order = self._order(command)
        row = self.sim.st["payments"].get(order_id, {"charged": 0, "refunded": 0})
        due = order["amount"] if order["status"] == "approved" else 0
        excess = row["charged"] - row["refunded"] - due
        if excess <= 0:
            raise CommandError(f"order {order_id} is not overcharged (net {due + excess})")
        self.sim.st["payments"][order_id]["refunded"] += excess

    def _cmd_set_mode(self, command: dict[str, Any]) -> None:
        mode = self._field(command, "mode", str)
        if mode not in scen.MODES:
            raise CommandError(f"mode must be one of {', '.join(scen.MODES)}")
        if mode == self.sim.cfg["mode"]:
            raise CommandError(f"new orders already use {mode}")
        self.sim.cfg["mode"] = mode

    def _cmd_set_idempotent_consumers(self, command: dict[str, Any]) -> None:
        enabled = self._field(command, "enabled", bool)
        if enabled == self.sim.st["idempotent"]:
            raise CommandError(f"idempotent consumers are already {'on' if enabled else 'off'}")
        self.sim.st["idempotent"] = enabled

    def _cmd_set_fault(self, command: dict[str, Any]) -> None:
        fault = self._field(command, "fault", str)
        if fault not in scen.RATE_FAULTS:
            raise CommandError(f"fault must be one of {', '.join(scen.RATE_FAULTS)}")
        value = self._field(command, "value", (int, float))
        if not 0 <= value <= 1:
            raise CommandError("a rate is between 0 and 1")
        self.sim.cfg["faults"][fault] = float(value)

    def _cmd_decline_next_payment(self, command: dict[str, Any]) -> None:
        self.sim.st["force_decline"] += 1

    def _cmd_set_service_down(self, command: dict[str, Any]) -> None:
        service = self._field(command, "service", str)
        if service not in SERVICES:
            raise CommandError(f"service must be one of {', '.join(SERVICES)}")
        down = self._field(command, "down", bool)
        if self.sim.st["down"][service] == down:
            raise CommandError(f"{service} is already {'down' if down else 'up'}")
        self.sim.st["down"][service] = down

    def _cmd_stop_faults(self, command: dict[str, Any]) -> None:
        st = self.sim.st
        for name in scen.RATE_FAULTS:
            st["cfg"]["faults"][name] = 0.0
        for service in SERVICES:
            st["down"][service] = False
        st["orch"]["crash_armed"] = False
        st["orch"]["crash_scheduled"] = False
        if not st["orch"]["up"] and not st["orch"]["restart_scheduled"]:
            self.sim.schedule(self.now_ms + 1, "restart")
            st["orch"]["restart_scheduled"] = True

    def _cmd_crash_orchestrator(self, command: dict[str, Any]) -> None:
        when = self._field(command, "when", str)
        if when not in ("now", "after_next_step"):
            raise CommandError("when must be 'now' or 'after_next_step'")
        st = self.sim.st
        o = st["orch"]
        if not o["up"]:
            raise CommandError("the orchestrator is already down")
        if o["crash_armed"] or o["crash_scheduled"]:
            raise CommandError("a crash is already on its way")
        live = any(
            st["sagas"][s]["status"] == "running" and st["sagas"][s]["mode"] == "orchestration"
            for s in st["saga_ids"]
        ) or any(st["tpc"]["txns"][t]["state"] not in ("committed", "aborted")
                 for t in st["tpc"]["txn_ids"])  # fmt: skip
        if st["cfg"]["mode"] == "choreography" and not live:
            raise CommandError("choreography has no orchestrator to crash; take a service down")
        if when == "now":
            self.sim.schedule(self.now_ms + 1, "crash")
            o["crash_scheduled"] = True
        else:
            o["crash_armed"] = True

    def _cmd_restart_orchestrator(self, command: dict[str, Any]) -> None:
        o = self.sim.st["orch"]
        if o["up"] or o["restart_scheduled"]:
            raise CommandError("the orchestrator is running" if o["up"] else "already restarting")
        self.sim.schedule(self.now_ms + 1, "restart")
        o["restart_scheduled"] = True

    def _cmd_retry_stuck_sagas(self, command: dict[str, Any]) -> None:
        st = self.sim.st
        stuck = [s for s in st["saga_ids"] if st["sagas"][s]["status"] == "failed"]
        if not stuck:
            raise CommandError("no saga is stuck")
        self.sim.schedule(self.now_ms + 1, "retry_stuck")
