"""How well the catalog's figures are sourced: first-party share, unbacked figures, blocked domains.

A figure is *first-party* when at least one source of a primary kind (`vendor`,
`cloud`, `benchmark`, `paper`) covers it. `accelctl validate` warns about figures
that are not, and about sources on the blocklist (AI-generated encyclopedias,
resellers, spec aggregators, unofficial mirrors), which no entry should cite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from urllib.parse import urlsplit

from accelctl.core.models import Accelerator, Source

BLOCKLIST_FILE = "blocked_source_domains.txt"  # beside this module; one domain a line, `#` comments


@dataclass(frozen=True)
class Share:
    """How many stored figures have a first-party source, out of all stored figures."""

    backed: int
    total: int

    @property
    def fraction(self) -> float:
        return self.backed / self.total if self.total else 1.0

    def __str__(self) -> str:
        return f"{self.backed} of {self.total} figures ({self.fraction:.0%})"


def first_party_share(accelerators: Iterable[Accelerator]) -> Share:
    """The share of stored figures (each precision counted apart) with a primary source."""
    backed = total = 0
    for acc in accelerators:
        for figure in acc.stored_figures:
            total += 1
            backed += any(s.primary for s in acc.backing(figure))
    return Share(backed, total)


def unbacked_figures(acc: Accelerator) -> list[str]:
    """The stored figures of `acc` that no vendor, cloud, benchmark or paper source covers."""
    return [f for f in acc.stored_figures if not any(s.primary for s in acc.backing(f))]


def domain(url: str) -> str:
    """The host of a URL, lower-cased, without `www.`."""
    host = (urlsplit(url).hostname or "").lower()
    return host.removeprefix("www.")


def is_blocked(url: str, blocklist: Iterable[str]) -> bool:
    """Whether the URL's host is a blocked domain or one of its subdomains."""
    host = domain(url)
    return any(host == d or host.endswith("." + d) for d in blocklist)


def blocked_sources(acc: Accelerator, blocklist: Iterable[str] | None = None) -> list[Source]:
    """The sources of `acc` whose domain is on the blocklist."""
    blocked = load_blocklist() if blocklist is None else frozenset(blocklist)
    return [s for s in acc.sources if is_blocked(s.url, blocked)]


@cache
def load_blocklist() -> frozenset[str]:
    """The blocked domains shipped with accelctl."""
    text = resources.files(__package__).joinpath(BLOCKLIST_FILE).read_text(encoding="utf-8")
    return parse_blocklist(text)


def parse_blocklist(text: str) -> frozenset[str]:
    """Domains from a blocklist text: one a line; blank lines and `#` comments ignored."""
    lines = (line.split("#", 1)[0].strip().lower() for line in text.splitlines())
    return frozenset(line.removeprefix("www.") for line in lines if line)


def warnings_for(acc: Accelerator) -> list[str]:
    """What `validate` says about one entry's sourcing (empty when it is well sourced)."""
    found = []
    unbacked = unbacked_figures(acc)
    if unbacked:
        found.append(f"no vendor, cloud, benchmark or paper source covers {', '.join(unbacked)}")
    for source in blocked_sources(acc):
        found.append(f"{source.url}: {domain(source.url)} is on the source blocklist "
                     "(AI-generated, reseller, aggregator or mirror); cite the maker or a cloud instead")
    return found
