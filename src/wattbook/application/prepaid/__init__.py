"""Prepaid rules: apply the policy, keep-power, the holiday calendar."""
