"""Learner commands of the event-sourcing lab engine (a mixin of EventSourcingEngine)."""

from __future__ import annotations

from typing import Any

from labs.engines import CommandError
from labs.engines.event_sourcing_scenario import ACCOUNT_RE, COMMANDS, new_read_model
from labs.engines.event_sourcing_store import account_state

_LOAD, _APPEND, _QUERY, _NOTE = range(4)


def _stream(account: str) -> str:
    return f"account-{account}"


class CommandsMixin:
    """apply() and one _cmd_<type> per command; state lives on the engine."""

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(command, dict) or not isinstance(command.get("type"), str):
            raise CommandError("a command is a mapping with a 'type'")
        kind = command["type"]
        handler = getattr(self, f"_cmd_{kind}", None)
        if handler is None:
            raise CommandError(f"unknown command {kind!r}")
        spec = next(c for c in COMMANDS if c["type"] == kind)
        fields = {f["name"]: f for f in spec["fields"]}
        unknown = set(command) - {"type"} - set(fields)
        if unknown:
            raise CommandError(f"unknown field {sorted(unknown)[0]!r}")
        clean: dict[str, Any] = {"type": kind}
        for name, f in fields.items():
            value = command.get(name, f.get("default"))
            clean[name] = _check(name, f, value)
        handler(clean)
        return {"type": "command_applied", "t": self._now, "command": clean}

    def _account_arg(self, cmd: dict[str, Any]) -> str:
        account = cmd["account"]
        if not ACCOUNT_RE.match(account):
            raise CommandError("account ids are lower-case letters, digits and '-' (max 16)")
        return account

    def _cmd_open_account(self, cmd: dict[str, Any]) -> None:
        self._account_arg(cmd)
        if not cmd["owner"].strip() or len(cmd["owner"]) > 40:
            raise CommandError("owner must be 1 to 40 characters")
        self._submit(self._now, cmd, "user", 1)

    def _cmd_deposit(self, cmd: dict[str, Any]) -> None:
        self._account_arg(cmd)
        self._submit(self._now, cmd, "user", 1)

    _cmd_withdraw = _cmd_deposit

    def _cmd_race_withdrawals(self, cmd: dict[str, Any]) -> None:
        account = self._account_arg(cmd)
        for amount, delay in ((cmd["amount_a"], self.latency), (cmd["amount_b"], self.latency + 5)):
            self.counters["commands"] += 1
            self._push(self._now + 1, _LOAD, {
                "id": self.counters["commands"], "by": "user", "attempt": 1, "delay": delay,
                "retry": cmd["retry"],
                "command": {"type": "withdraw", "account": account, "amount": amount},
            })  # fmt: skip

    def _cmd_query_balance(self, cmd: dict[str, Any]) -> None:
        self._push(self._now + 1, _QUERY, {"account": self._account_arg(cmd)})

    def _cmd_set_projection(self, cmd: dict[str, Any]) -> None:
        self.proj["lag_ms"] = cmd["lag_ms"]
        self.proj["paused"] = cmd["paused"]
        self.proj["last_t"] = self._now

    def _restart_projection(self, version: int) -> None:
        p = self.proj
        p.update(version=version, checkpoint=0, rebuilding=True, paused=False, last_t=self._now)
        p["model"] = new_read_model()
        p["shadow"] = new_read_model()
        self._push(
            self._now + 1,
            _NOTE,
            {
                "type": "projection_rebuild_started",
                "version": version,
                "events": len(self.store.log),
            },
        )

    def _cmd_deploy_projection_fix(self, cmd: dict[str, Any]) -> None:
        self._restart_projection(2)

    def _cmd_rebuild_projection(self, cmd: dict[str, Any]) -> None:
        self._restart_projection(self.proj["version"])

    def _cmd_take_snapshot(self, cmd: dict[str, Any]) -> None:
        account = self._account_arg(cmd)
        if not self.accounts.get(account, account_state())["open"]:
            raise CommandError(f"there is no account {account!r}")
        state = self.accounts[account]
        self.snapshots[_stream(account)] = {"version": state["version"], "state": dict(state)}
        self._push(self._now + 1, _NOTE, {
            "type": "snapshot_taken", "account": account, "version": state["version"],
            "auto": False,
        })  # fmt: skip

    def _cmd_time_travel(self, cmd: dict[str, Any]) -> None:
        head = len(self.store.log)
        position = cmd["position"]
        if position > head:
            raise CommandError(f"there are only {head} events so far")
        self.time_travel = position
        if position < head and "time_travel" in self.met:
            self.met["time_travel"] = True

    def _cmd_live_view(self, cmd: dict[str, Any]) -> None:
        self.time_travel = None

    def _cmd_inspect_stream(self, cmd: dict[str, Any]) -> None:
        account = self._account_arg(cmd)
        stream = _stream(account)
        raw = self.store.read(stream, raw=True)
        if not raw:
            raise CommandError(f"there is no stream {stream!r}")
        self.inspected = stream
        old = sum(1 for e in raw if e["schema"] < 2)
        if old and "upcast_read" in self.met:
            self.met["upcast_read"] = True
        self._push(self._now + 1, _NOTE, {
            "type": "stream_inspected", "stream": stream, "events": len(raw), "upcast": old,
        })  # fmt: skip

    def _cmd_set_traffic(self, cmd: dict[str, Any]) -> None:
        self.traffic_rps = float(cmd["rps"])
        self.next_traffic = self._gap(self._now) if self.traffic_rps > 0 else None


def _check(name: str, field: dict[str, Any], value: Any) -> Any:
    kind = field["kind"]
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommandError(f"{name} must be a number")
        if not field["min"] <= value <= field["max"]:
            raise CommandError(f"{name} must be between {field['min']} and {field['max']}")
        if field["step"] >= 1:
            if value != int(value):
                raise CommandError(f"{name} must be a whole number")
            value = int(value)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise CommandError(f"{name} must be true or false")
        return value
    if not isinstance(value, str):
        raise CommandError(f"{name} must be text")
    return value.strip()
