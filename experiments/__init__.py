"""Experiment entry points for recenv (thin mains over plain functions)."""
