"""A stand-in for the ``ray`` module that runs each actor in this process, on this loop.

Enough of Ray's surface for `sluice.batch.run_ray`'s driver (``is_initialized``, ``init``,
``shutdown``, ``remote(**options)(cls).remote(...)``, ``handle.method.remote(...)``,
``ref.future()``, ``kill``), so the driver's logic (shards, stop, merge, clean-up) is
tested on every run, without a cluster. ``kill`` cancels what the actor is running, as the
death of its process would end it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any


class FakeRef:
    def __init__(self, work: Any) -> None:
        self._future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self.task = asyncio.ensure_future(work)
        self.task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            self._future.set_exception(RuntimeError("the actor died"))
        elif task.exception() is not None:
            self._future.set_exception(task.exception())  # type: ignore[arg-type]
        else:
            self._future.set_result(task.result())

    def future(self) -> concurrent.futures.Future[Any]:
        return self._future


class _Method:
    def __init__(self, handle: FakeActor, name: str) -> None:
        self._handle, self._name = handle, name

    def remote(self, *args: Any) -> FakeRef:
        handle = self._handle
        if handle.killed:
            raise RuntimeError("the actor is dead")
        ref = FakeRef(getattr(handle.instance, self._name)(*args))
        handle.refs.append(ref)
        return ref


class FakeActor:
    def __init__(self, instance: Any) -> None:
        self.instance = instance
        self.killed = False
        self.refs: list[FakeRef] = []

    def __getattr__(self, name: str) -> _Method:
        return _Method(self, name)

    def kill(self) -> None:
        self.killed = True
        for ref in self.refs:
            ref.task.cancel()


class _Class:
    def __init__(self, ray: FakeRay, cls: type) -> None:
        self._ray, self._cls = ray, cls

    def remote(self, *args: Any) -> FakeActor:
        actor = FakeActor(self._cls(*args))
        self._ray.actors.append(actor)
        return actor


class FakeRay:
    def __init__(self, initialized: bool = False) -> None:
        self.initialized = initialized
        self.inits: list[str | None] = []
        self.shutdowns = 0
        self.options: dict[str, Any] = {}
        self.actors: list[FakeActor] = []

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, address: str | None = None) -> None:
        self.inits.append(address)
        self.initialized = True

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.initialized = False

    def remote(self, **options: Any) -> Any:
        self.options = options
        return lambda cls: _Class(self, cls)

    def kill(self, actor: FakeActor, no_restart: bool = True) -> None:
        actor.kill()
