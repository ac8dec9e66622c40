"""Which reverse proxies are trusted to say who the client is (``FORWARDED_ALLOW_IPS``).

Behind a load balancer or an Ingress every connection comes from the proxy, so per-client limits
(the coordinator's rate limit without API keys) would key every client to the proxy's address.
uvicorn's proxy-headers middleware replaces the client address with the one in ``X-Forwarded-For``,
but only for connections from the addresses listed here; unset trusts no one and the header is
ignored (a client could otherwise pick its own address). uvicorn's own default would trust
127.0.0.1, which in a pod is every sidecar: we never rely on it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def parse_trusted(value: str) -> list[str]:
    """The comma-separated addresses or CIDRs of ``value`` (``*`` trusts every peer); ValueError."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    for item in items:
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR range") from None
    return items


class ProxySettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    forwarded_allow_ips: str = Field(
        "",
        description="comma-separated addresses or CIDR ranges of the reverse proxies (load balancer, "
        "Ingress) trusted to set `X-Forwarded-For` and `X-Forwarded-Proto`; the client address is "
        "then the rightmost address of that header not trusted; unset: trust no one (the header is "
        "ignored); `*` trusts every peer (only when nothing but the proxy reaches the port); behind "
        "the GKE Ingress: `130.211.0.0/22,35.191.0.0/16,<the Ingress' IP>`",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _trusted(cls, value: str) -> str:
        parse_trusted(value)  # a bad entry stops the start with a line naming the variable
        return value

    def uvicorn_options(self) -> dict[str, Any]:
        """``uvicorn.run``/``uvicorn.Config`` keyword arguments for these settings."""
        trusted = parse_trusted(self.forwarded_allow_ips)
        if not trusted:
            return {"proxy_headers": False}
        return {"proxy_headers": True, "forwarded_allow_ips": trusted}
