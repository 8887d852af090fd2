"""Tests of the bundled price table and PriceBook overrides."""
