"""Shared plumbing no single domain owns."""
