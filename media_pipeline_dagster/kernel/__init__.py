"""Plumbing every domain shares and no domain owns: the fetch policy, error classification."""
