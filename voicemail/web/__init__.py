"""The agents' web pages for voice messages: the inbox and the figures; templates beside them."""
