"""One module per external system; the active profile picks the implementations."""
