"""crtsim: simulate cluster randomised trials of interventions delivered by teams."""
__version__ = "0.1.0"
