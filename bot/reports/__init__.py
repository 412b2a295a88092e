"""Report artefacts that are files, not Slack text: the PNG chart and the CSV export."""
