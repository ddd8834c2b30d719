"""What the user asked the node to be (online, paused until a time, offline), kept across
restarts so the engine reconciles towards it after a reboot or a crash.

The file (``node-state.json`` in the data folder) also holds this installation's random
``instance_id``: the gateway uses it to tell a reconnect of this machine from a second device,
and the container runner labels this node's containers with it. A damaged file is moved aside
(never lost) and the node starts offline, which is the safe choice.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .atomic import write_atomic
from .state import DesiredState

__all__ = ["Desired", "DesiredStore", "STATE_FILE"]

log = logging.getLogger(__name__)

STATE_FILE = "node-state.json"


@dataclass(frozen=True)
class Desired:
    state: DesiredState = DesiredState.OFFLINE
    paused_until: float | None = None
    """Unix time a pause ends (``None``: until resumed). Only meaningful while paused."""
    instance_id: str = ""

    def effective(self, now: float) -> DesiredState:
        """The state to reconcile to at ``now``: a pause that has run out means online."""
        if self.state is DesiredState.PAUSED and self.paused_until is not None:
            if now >= self.paused_until:
                return DesiredState.ONLINE
        return self.state


class DesiredStore:
    """Reads and writes the desired state in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATE_FILE

    def load(self) -> Desired:
        """Return the saved state; a fresh one (offline, new instance id) when there is none.
        A damaged file is renamed ``node-state.json.bad`` and a fresh state is returned."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            desired = Desired(
                state=DesiredState(data["state"]),
                paused_until=(
                    None if data.get("paused_until") is None else float(data["paused_until"])
                ),
                instance_id=str(data["instance_id"]),
            )
            if len(desired.instance_id) < 16:
                raise ValueError("instance id too short")
            return desired
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as error:
            aside = self.path.with_name(self.path.name + ".bad")
            log.warning("node state %s is damaged (%s); moved to %s", self.path, error, aside)
            try:
                self.path.replace(aside)
            except OSError:
                log.warning("could not move %s aside", self.path)
        fresh = Desired(instance_id=secrets.token_hex(16))
        self.save(fresh)
        return fresh

    def save(self, desired: Desired) -> None:
        data = asdict(desired)
        data["state"] = desired.state.value
        write_atomic(self.path, (json.dumps(data, indent=1) + "\n").encode())

    def update(self, current: Desired, **changes: object) -> Desired:
        """Save ``current`` with ``changes`` and return it."""
        desired = replace(current, **changes)  # type: ignore[arg-type]
        self.save(desired)
        return desired
