"""The agents' web app (call side): sign-in, board, calls, tokens, agents, audit; templates beside it."""
