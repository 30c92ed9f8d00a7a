"""OCPP central system, charge-point simulator and fleet runner."""
