"""The one registry of providers and outbox senders.

A provider is a stateless description (key, label, category, the parameters its
connection form asks for); a :class:`~integrations.models.Connection` row is one
organisation's use of it. A sender delivers outbox rows for one ``target``. Apps
register theirs in ``AppConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from integrations.models import Delivery


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""


@dataclass(frozen=True)
class Provider:
    key: str
    label: str
    category: str
    params: tuple[Param, ...] = ()
    enterprise_only: bool = False
    extra: dict = field(default_factory=dict)


@dataclass
class SendResult:
    """What happened to one delivery. ``ok`` with the remote id; otherwise an
    error, retried unless ``permanent``, not before ``retry_after`` seconds.
    ``throttled``: it only waited for a rate limit — it is due again exactly
    ``retry_after`` seconds later (no backoff on top), the org's other rows for the
    same target wait with it, and the wait does not count towards giving up.
    ``waiting``: it waits for another delivery (the contact it links to): due again
    ``retry_after`` seconds later, not counted either."""

    delivery_id: int
    ok: bool
    remote_id: str = ""
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None
    throttled: bool = False
    waiting: bool = False


class IntegrationError(Exception):
    """A third party refused or failed in a way an admin can act on; ``str(exc)`` is
    the sentence shown on the page. Each app's own errors (CRM, Zoom, dialer calls)
    derive from it, so code in another app can catch them without importing that app."""


class RateLimited(Exception):
    """The whole batch was refused for a rate limit before anything was sent (HTTP
    429…): try again after ``retry_after`` seconds. The claim still counts as an
    attempt (attempts are never handed back) but the wait does not count towards
    giving up. A sender that already has results for some deliveries returns them
    with ``SendResult(throttled=True)`` for the rest instead, so nothing it learnt is
    thrown away."""

    def __init__(self, retry_after: float, message: str = "Rate limited"):
        super().__init__(message)
        self.retry_after = retry_after


class Sender(Protocol):
    batch_size: int

    def send(self, deliveries: list[Delivery]) -> list[SendResult]: ...


PROVIDERS: dict[str, Provider] = {}
SENDERS: dict[str, Sender] = {}


def register_provider(provider: Provider) -> Provider:
    if provider.key in PROVIDERS and PROVIDERS[provider.key] != provider:
        raise ValueError(f"Provider {provider.key!r} is registered twice.")
    PROVIDERS[provider.key] = provider
    return provider


def register_sender(target: str, sender: Sender) -> None:
    SENDERS[target] = sender


def providers_in(category: str) -> list[Provider]:
    return sorted((p for p in PROVIDERS.values() if p.category == category), key=lambda p: p.label.lower())


INTEGRATIONS_PAGE, ORGANIZATION_PAGE, ROLES_PAGE, PERSONAL_PAGE = "integrations", "organization", "roles", "personal"


@dataclass(frozen=True)
class Section:
    """One section of a console page that an app contributes. Settings >
    Integrations is the page the admin scrolls through (CRM Connect, CRM Objects
    Creation, Dialer Integrations, Native Zoom Integration, Custom Media Bucket…);
    Organization Settings, Roles and Permissions and Personal Settings are composed
    the same way. ``context(request, org)`` returns the template's context."""

    key: str
    title: str
    order: int
    template: str
    context: Callable[..., dict] | None = None
    page: str = INTEGRATIONS_PAGE


SECTIONS: dict[str, Section] = {}


def register_section(section: Section) -> Section:
    SECTIONS[section.key] = section
    return section


def sections_in_order(page: str = INTEGRATIONS_PAGE) -> list[Section]:
    return sorted((s for s in SECTIONS.values() if s.page == page), key=lambda s: s.order)
