"""The public face of status: the page, its view and viewers, rendering, revisions, feeds."""
