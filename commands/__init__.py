"""The write side: commands, their handlers, and the write endpoints."""
