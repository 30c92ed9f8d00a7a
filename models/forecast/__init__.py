"""Demand forecasting: hourly energy and occupancy per site, walk-forward backtests."""
