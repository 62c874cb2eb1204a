"""The reading list: filter by text, accelerator, topic and section; open or copy a link."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Input, Static

from accelctl.core.inventory import Inventory
from accelctl.core.query import ReadingQuery
from accelctl.errors import AccelctlError
from accelctl.tui.links import open_link
from accelctl.tui.views.filtered import FilteredTableView
from accelctl.tui.widgets.virtual_table import Column, VirtualTable

COLUMNS = [Column("published", "DATE", 10), Column("site", "SITE", 20), Column("title", "TITLE", 70)]


class ReadingView(FilteredTableView):
    """`/` filters: words, plus `acc:ID`, `topic:T`, `section:S` terms."""

    BINDINGS = [Binding("o", "open", "Open link"), Binding("d", "open_discussion", "Discussion"),
                Binding("y", "copy", "Copy link")]
    FILTER_ID = "reading-filter"

    def __init__(self, inventory: Inventory, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.inventory = inventory
        self.by_url = {r.url: r for r in inventory.reading}

    def compose(self) -> ComposeResult:
        yield Input(placeholder="/ filter: words, acc:H100, topic:inference, section:news", id="reading-filter")
        with Horizontal():
            yield VirtualTable(COLUMNS, id="reading-table")
            yield Static(id="reading-detail")

    def on_mount(self) -> None:
        self.refilter()

    def refilter(self) -> None:
        words, terms = [], {}
        for word in self.filter_box().value.split():
            key, sep, value = word.partition(":")
            if sep and key in ("acc", "topic", "section") and value:
                terms[key] = value
            else:
                words.append(word)
        try:
            found = ReadingQuery(text=" ".join(words), accelerator=terms.get("acc"), topic=terms.get("topic"),
                                 section=terms.get("section")).run(self.inventory)
        except AccelctlError as e:
            self.notify(e.message, severity="warning", timeout=2)
            found = []
        table = self.query_one(VirtualTable)
        table.set_rows([(r.published or "-", r.site, r.title or "(untitled) " + r.url) for r in found],
                       [r.url for r in found])
        self.show_detail(table.current_key)

    def on_virtual_table_highlighted(self, event: VirtualTable.Highlighted) -> None:
        self.show_detail(event.key)

    def on_virtual_table_selected(self, event: VirtualTable.Selected) -> None:
        self.action_open()

    def show_detail(self, url: str | None) -> None:
        detail = self.query_one("#reading-detail", Static)
        if url is None:
            detail.update("no article matches the filter")
            return
        r = self.by_url[url]
        lines = [Text(r.title or "(title unknown)", style="bold"), Text(f"{r.site} · {r.published or 'undated'}"
                                                                        f" · {r.section}"),
                 Text(r.url, style=f"link {r.url}")]
        if r.discussion_url:
            lines.append(Text(f"discussion: {r.discussion_url}", style=f"link {r.discussion_url}"))
        if r.topics:
            lines.append(Text("topics: " + ", ".join(r.topics)))
        if r.accelerators:
            lines.append(Text("accelerators: " + ", ".join(r.accelerators)))
        lines.append(Text("\no open · d discussion · y copy link", style="dim"))
        detail.update(Group(*lines))

    def _current(self):
        key = self.query_one(VirtualTable).current_key
        return self.by_url.get(key) if key else None

    def action_open(self) -> None:
        if r := self._current():
            self.run_worker(open_link(self.app, r.url), group="open")

    def action_open_discussion(self) -> None:
        r = self._current()
        if r and r.discussion_url:
            self.run_worker(open_link(self.app, r.discussion_url), group="open")
        elif r:
            self.notify("no discussion link for this article", severity="warning", timeout=2)

    def action_copy(self) -> None:
        if r := self._current():
            self.app.copy_to_clipboard(r.url)
            self.notify(f"copied {r.url}", timeout=2)
