"""Accounts and meters: open an account, change its holder, install or replace a meter."""
