"""Headless-Chromium tests of the browser SDK (docs/sdk.md)."""
