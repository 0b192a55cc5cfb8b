"""Welfare fusion: family record, photo aggregation, hard rules, fusion model, explanations."""
