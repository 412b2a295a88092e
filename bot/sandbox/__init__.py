"""A local stand-in for Slack: the Web API subset Handoff uses, and a page to click through."""
