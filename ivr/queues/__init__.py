"""Queues and agents: who waits, who is offered to whom, presence, and the queue webhooks."""
