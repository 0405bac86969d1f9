"""Use cases: one async function per module, each one unit of work, through ``ports``."""
