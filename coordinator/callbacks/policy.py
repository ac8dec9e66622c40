"""Where callbacks may go: the SSRF policy, applied at intake and again on every connection.

A client chooses the URL the coordinator calls, so the coordinator must not become a way into the
networks it can reach. A callback URL is accepted when its scheme is ``http``/``https`` and *every*
address its host resolves to is globally routable, or lies in ``CALLBACK_ALLOWED_NETWORKS``.

The check runs twice: at intake (a refused URL is a 400, nothing is published) and at delivery,
inside the connection itself (``coordinator.callbacks.transport``): the host is resolved, the
addresses checked, and the socket opened to a checked address. There is no second lookup between
the check and the connect, so a DNS answer that changes (rebinding) cannot slip through.

Intake keeps each host's answer for ``CALLBACK_DNS_CACHE_SECONDS`` (``check``), so a burst of
requests naming one host costs one lookup, not one each; the addresses are checked on every request
all the same, and delivery always looks up afresh (``resolve``). A name that did not resolve is kept
as long (a negative answer), so requests naming a name whose servers never answer fail at once
instead of each waiting out the timeout. Lookups go through c-ares (``coordinator.callbacks.dns``):
a slow name never holds up another.

Address classification leans on the stdlib ``ipaddress`` flags, with these known gaps covered:
- ``is_global`` is True for multicast (224.0.0.0/4, ff00::/8) and for deprecated site-local
  ``fec0::/10``: both are refused explicitly.
- IPv6 forms that carry an IPv4 address are judged by that address too: IPv4-mapped
  ``::ffff:a.b.c.d`` (the kernel connects to the IPv4 address), 6to4 ``2002::/16``, Teredo
  ``2001::/32`` and the NAT64 well-known prefix ``64:ff9b::/96``. Older Pythons classify
  ``::ffff:127.0.0.1`` inconsistently across patch releases; unwrapping makes us independent of that.
- ``is_reserved`` catches IPv4-compatible ``::a.b.c.d`` and ``::ffff:0:a.b.c.d``, which
  ``is_global`` on 3.11 reports as global.
- ``_NOT_GLOBAL_EXTRA`` lists ranges assigned after the stdlib's table was written.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from yarl import URL

from coordinator.callbacks.dns import DnsResolver
from coordinator.callbacks.errors import CallbackRefused, CallbackUnresolved

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: ``(host, port) -> addresses``; the seam tests replace so that no lookup leaves the machine.
Resolver = Callable[[str, int], Awaitable[list[str]]]

SCHEMES = ("http", "https")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NOT_GLOBAL_EXTRA: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("3fff::/20"),  # documentation (RFC 9637, 2024); global on Python 3.11
)
#: A label of the legacy IPv4 forms ``inet_aton`` reads: decimal, octal (leading 0) or hex (0x).
_NUMERIC_LABEL = re.compile(r"(?i)0x[0-9a-f]*|[0-9]+")
#: Hosts whose answers intake keeps at most; a full cache is emptied (bounds memory, not time).
CACHE_ENTRIES = 4096


def parse_networks(value: str | Iterable[str]) -> tuple[IPNetwork, ...]:
    """``CALLBACK_ALLOWED_NETWORKS``: comma- or space-separated CIDRs (``127.0.0.0/8, ::1/128``)."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not a CIDR network: {item!r}") from None
    return tuple(networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address stands for (mapped, 6to4, Teredo, NAT64)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def why_not_global(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast destination, or None when it is."""
    if isinstance(address, ipaddress.IPv6Address):
        for inner in _embedded_ipv4(address):
            reason = why_not_global(inner)
            if reason:
                return f"embeds {inner}, which is {reason}"
        if address.ipv4_mapped is not None or address in _NAT64:
            return None  # judged by the IPv4 address alone; the prefix itself is "reserved"
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("not globally routable", any(address in net for net in _NOT_GLOBAL_EXTRA)),
        ("not globally routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


@dataclass
class CallbackPolicy:
    """The SSRF rules: allowed schemes, the resolver, and the networks opened by configuration."""

    allowed_networks: tuple[IPNetwork, ...] = ()
    resolver: Resolver = field(default_factory=DnsResolver)
    resolve_timeout: float = 5.0
    #: Seconds intake reuses a host's answer, or its failure to resolve (0: look up every time).
    cache_seconds: float = 10.0
    _cache: dict[tuple[str, int], tuple[float, list[str] | str]] = field(default_factory=dict, repr=False)

    def check_address(self, address: IPAddress) -> None:
        """Raise ``CallbackRefused`` unless ``address`` is public or explicitly allowed."""
        candidates = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)  # the kernel connects to the IPv4 address
        if any(a in net for a in candidates for net in self.allowed_networks if a.version == net.version):
            return
        reason = why_not_global(address)
        if reason:
            raise CallbackRefused(f"callback address {address} is {reason}")

    def check_url(self, url: str | URL) -> URL:
        """The parsed URL when its form is acceptable (scheme, host); no lookup yet.

        Parsed with yarl, the parser of the library that sends the callback (aiohttp), so the host
        we check is the host it connects to (no parser differential).
        """
        try:
            parsed = url if isinstance(url, URL) else URL(url)
            scheme, host, port = parsed.scheme, parsed.raw_host, parsed.port
        except (TypeError, ValueError) as exc:
            raise CallbackRefused(f"callback is not a valid URL: {exc}") from None
        if scheme not in SCHEMES:
            raise CallbackRefused("callback must be an absolute http or https URL")
        if not host or port is None:
            raise CallbackRefused("callback URL has no host")
        return parsed

    def check_literal(self, host: str) -> bool:
        """Whether ``host`` is an IP address literal (checked here, raising ``CallbackRefused``)
        rather than a name to look up.

        Hosts that merely look numeric (``2130706433``, ``127.1``, ``0x7f.1``, a colon) are refused:
        aiohttp dials such a host without asking a resolver, and the socket layer would read those
        legacy forms as an address we never checked.
        """
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            if ":" in host or all(_NUMERIC_LABEL.fullmatch(label) for label in host.split(".")):
                raise CallbackRefused(f"callback host {host!r} is not a plain IP address") from None
            return False
        self.check_address(literal)
        return True

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host`` from a fresh lookup, each checked; refused when ANY of them is
        not allowed. What every new callback connection dials."""
        if self.check_literal(host):
            return [ipaddress.ip_address(host.strip("[]"))]
        return self._checked(host, await self._lookup(host, port))

    async def check(self, url: str | URL) -> URL:
        """Intake's check of a callback URL: form, then every address, from a briefly kept answer."""
        parsed = self.check_url(url)
        host, port = parsed.raw_host or "", parsed.port or 0
        if self.check_literal(host):
            return parsed
        now = time.monotonic()
        kept = self._cache.get((host, port))
        if kept is not None and kept[0] > now:
            answer = kept[1]
        else:
            try:
                answer = await self._lookup(host, port)
            except CallbackUnresolved as exc:
                answer = str(exc)
            if self.cache_seconds > 0:
                if len(self._cache) >= CACHE_ENTRIES:
                    self._cache.clear()
                self._cache[(host, port)] = (now + self.cache_seconds, answer)
        if isinstance(answer, str):
            raise CallbackUnresolved(answer)
        self._checked(host, answer)
        return parsed

    async def _lookup(self, host: str, port: int) -> list[str]:
        try:
            async with asyncio.timeout(self.resolve_timeout):
                names = await self.resolver(host, port)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise CallbackUnresolved(f"callback host {host!r} does not resolve: {exc}") from None
        if not names:
            raise CallbackUnresolved(f"callback host {host!r} has no address")
        return names

    async def close(self) -> None:
        if isinstance(self.resolver, DnsResolver):
            await self.resolver.close()

    def _checked(self, host: str, names: list[str]) -> list[IPAddress]:
        # A scope (fe80::1%eth0) names an interface, not an address; the address decides.
        addresses = [ipaddress.ip_address(name.split("%", 1)[0]) for name in names]
        for address in addresses:
            self.check_address(address)
        return addresses
