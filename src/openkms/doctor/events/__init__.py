"""Event logs: every export form read, and the streaming analysis of KMS events."""
