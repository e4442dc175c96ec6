"""Who did something: the one type every service's ``actor`` argument takes and the audit trail records.

Three kinds: a signed-in ``user`` (Admin or Analyst, or platform staff in the admin), an ``api_key``
(an integrator's key, named by its prefix) and ``system`` (a Celery task, beat, a management command,
a webhook). ``id`` is stable (user pk, key prefix, task name); ``name`` is what a person reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ActorKind(StrEnum):
    USER = "user"
    API_KEY = "api_key"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    id: str
    name: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ActorKind):
            object.__setattr__(self, "kind", ActorKind(self.kind))
        if not self.id:
            raise ValueError("an actor needs an id")

    @classmethod
    def system(cls, name: str) -> Actor:
        """A task, beat, command or webhook: ``Actor.system("celery:stores.sync")``."""
        return cls(ActorKind.SYSTEM, name, name)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        """The actor of ``request.user``: a Django user, or the principal of an API key."""
        key = getattr(user, "key", None)
        if key is not None and getattr(key, "prefix", None):
            return cls(ActorKind.API_KEY, str(key.prefix), str(getattr(key, "name", "") or key.prefix))
        if user is None or not getattr(user, "is_authenticated", False):
            return cls(ActorKind.SYSTEM, "anonymous", "anonymous")
        return cls(ActorKind.USER, str(user.pk), str(user.get_username()))

    @property
    def label(self) -> str:
        """One string for logs and ``requested_by`` columns: ``user:alice``, ``api_key:kiki_ab12``."""
        return f"{self.kind}:{self.name}"

    def as_dict(self) -> dict[str, str]:
        return {"kind": str(self.kind), "id": self.id, "name": self.name}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Actor:
        return cls(ActorKind(data["kind"]), data["id"], data["name"])

    def __str__(self) -> str:
        return self.label


SYSTEM = Actor.system("system")


def require_actor(actor: object) -> Actor:
    """``actor`` itself when it is an ``Actor``; a TypeError naming what was passed otherwise."""
    if not isinstance(actor, Actor):
        raise TypeError(f"actor must be an apps.core.actor.Actor, not {type(actor).__name__}")
    return actor
