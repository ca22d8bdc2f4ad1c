"""cctvctl: import, aggregate, check and report CCTV people/vehicle counts."""

__version__ = "0.1.0"
