"""Every URL of the seed reading list is in the catalog's reading, as an article or its discussion."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED

SEED = SHARED / "seeds" / "reading-list.txt"


def seed_urls() -> set[str]:
    urls = set()
    for line in SEED.read_text().splitlines():
        words = line.lstrip("> ").split()
        if words and words[0].startswith("http"):
            urls.add(words[0])
    return urls


@pytest.mark.skipif(not SEED.exists(), reason="../shared/seeds/reading-list.txt is not beside this checkout")
def test_every_seed_url_is_listed(cli) -> None:
    items = cli("read", "-o", "json").json()
    listed = {i["url"] for i in items} | {i["discussion_url"] for i in items if i["discussion_url"]}
    urls = seed_urls()
    assert len(urls) > 117
    assert sorted(urls - listed) == []
    assert len({i["url"] for i in items}) == len(items) == 117
