"""The scriptable CLI (click). Heavy libraries load inside the commands that need them."""
