"""Test support shared by more than one app's tests (nothing here runs in production)."""
