"""Persistence: the only package that imports tortoise. Repositories return domain values."""
