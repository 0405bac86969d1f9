"""wattbook: prepaid electricity metering and billing for DL/T 645-2007 smart meters."""

__version__ = "0.1.0.dev0"
