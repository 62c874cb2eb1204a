"""The Textual TUI. It consumes core/ and the backend interface, never the CLI."""
