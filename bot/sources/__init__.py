"""Pure translation of inbound payloads into domain values, with field-level errors."""
