"""The browser UI: server-rendered pages (Jinja2) and a little JavaScript for live parts."""
