"""Run rasa-sdk actions: in process through rasa_sdk's ActionExecutor, or at a remote action server."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
import inspect
import logging
from types import ModuleType
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor

logger = logging.getLogger(__name__)


class ActionError(Exception):
    """An action could not be run (missing, crashed, server down); the dialogue degrades."""


@dataclass
class ActionResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)


class ActionRunner(Protocol):
    def has(self, name: str) -> bool: ...

    def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult: ...


class InProcessRunner:
    """rasa_sdk's own executor, with the actions of one vertical's module registered.

    Only the classes defined in that module are registered (rasa-sdk's register_package
    would take every Action subclass in the process, mixing verticals)."""

    def __init__(self, module: ModuleType | None):
        self.executor = ActionExecutor()
        # rasa-sdk warns for every slot a validator does not check: expected here, not news
        logging.getLogger("rasa_sdk.forms").setLevel(logging.ERROR)
        if module is not None:
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, Action) and cls.__module__ == module.__name__ and not inspect.isabstract(cls):
                    self.executor.register_action(cls)

    def has(self, name: str) -> bool:
        return name in self.executor.actions

    def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        if not self.has(name):
            raise ActionError(f"action '{name}' is not registered")
        call = {"next_action": name, "sender_id": tracker["sender_id"], "tracker": tracker,
                "domain": domain, "version": "3.21.1"}
        try:
            result = _run_sync(self.executor.run(call))
        except Exception as exc:  # an action's bug must not end the call
            logger.exception("action %s failed", name)
            raise ActionError(f"action '{name}' failed: {type(exc).__name__}") from exc
        if result is None:
            return ActionResult()
        return ActionResult(events=list(result.events), responses=list(result.responses))


class RemoteRunner:
    """An existing Rasa action server (`rasa run actions`), reached over its /webhook."""

    def __init__(self, url: str, timeout_s: float = 5.0):
        self.url = url.rstrip("/")
        if not self.url.endswith("/webhook"):
            self.url += "/webhook"
        self.timeout_s = timeout_s
        self._names: set[str] | None = None

    def has(self, name: str) -> bool:
        if self._names is None:
            try:
                resp = requests.get(self.url.replace("/webhook", "/actions"), timeout=self.timeout_s)
                resp.raise_for_status()
                self._names = {a["name"] for a in resp.json()}
            except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                logger.warning("action server %s did not list its actions: %s", self.url, exc)
                return False
        return name in self._names

    def run(self, name: str, tracker: dict[str, Any], domain: dict[str, Any]) -> ActionResult:
        call = {"next_action": name, "sender_id": tracker["sender_id"], "tracker": tracker,
                "domain": domain, "version": "3.21.1"}
        try:
            resp = requests.post(self.url, json=call, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise ActionError(f"action server unreachable: {type(exc).__name__}") from exc
        if resp.status_code != 200:
            raise ActionError(f"action server answered {resp.status_code} for '{name}'")
        try:
            body = resp.json()
        except ValueError as exc:
            raise ActionError("action server answered something that is not JSON") from exc
        return ActionResult(events=list(body.get("events", [])), responses=list(body.get("responses", [])))


def make_runner(actions_module: ModuleType | None, action_server: str | None) -> ActionRunner:
    if action_server:
        return RemoteRunner(action_server)
    return InProcessRunner(actions_module)


def _run_sync(coro: Any) -> Any:
    """Run rasa-sdk's coroutine to completion, also from a thread that already has a running
    event loop (a host application's, or a test tool's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rasa-action") as pool:
        return pool.submit(asyncio.run, coro).result()
