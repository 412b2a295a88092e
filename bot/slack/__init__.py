"""Slack glue: the Block Kit builders, and later the Bolt app and Web client factories."""
