"""Campaigns, store, corpus and CLI of tritondiff (see DESIGN.md, section fuzz/)."""
