"""Checking labels against humans: metrics, the compare report and temperature calibration."""
