"""Calls: menu, queues, agents, call log."""
