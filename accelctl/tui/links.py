"""Opening a link from the TUI: a browser where there is one, else the clipboard, saying which."""

from __future__ import annotations

import asyncio
import os
import sys
import webbrowser
from typing import Any

from textual.app import App


def has_browser() -> bool:
    """Whether a graphical browser can open a link without taking over this terminal.

    Python's webbrowser falls back to console browsers (lynx, w3m) when there is no
    display; started under the TUI they would fight it for the terminal. It may run
    `xdg-settings`: call it off the event loop.
    """
    if not (sys.platform in ("darwin", "win32") or os.environ.get("BROWSER") or os.environ.get("DISPLAY")
            or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


async def open_link(app: App[Any], url: str) -> None:
    """Open `url` in a browser, or copy it when there is none; a note says which happened."""
    if await asyncio.to_thread(has_browser):
        app.open_url(url)
        app.notify(f"opening {url}", timeout=2)
    else:
        app.copy_to_clipboard(url)
        app.notify(f"no browser in this terminal: copied {url} to the clipboard", timeout=4)
