"""The `touchplan` command for ops and developers. Not shipped to Lambda."""
