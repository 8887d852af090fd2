"""Tests of the pure plan layer: pricing a plan and checking budgets."""
