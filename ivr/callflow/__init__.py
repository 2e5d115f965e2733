"""The call flow: the menu, what is said at each node, the call log, order lookups, webhooks."""
