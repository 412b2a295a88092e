"""Use-cases: each method is one thing a user or a job does; side effects go through storage."""
