"""Views: render core values (diagnostics, summaries, later plans) for people or machines.

The core never prints; the CLI picks a view and hands it values.
"""
