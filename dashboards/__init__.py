"""Operator dashboards (Dash): one module per page under ``dashboards.pages``."""
