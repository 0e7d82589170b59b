"""What the commands print: live progress, reports, status and events as text."""
