"""The random-intercept linear mixed model: one REML core for a batch of trials (``reml``,
on the sufficient statistics of ``stats``), its df methods (``df``), and the ``mixed_ancova``
estimator built on them (``ancova``). A single trial is a batch of one."""
from simulator.analysis.mixed.ancova import mixed_ancova, mixed_ancova_batch
from simulator.analysis.mixed.df import DF_METHODS
from simulator.analysis.mixed.reml import RemlFit, fit_random_intercept

__all__ = ["DF_METHODS", "RemlFit", "fit_random_intercept", "mixed_ancova", "mixed_ancova_batch"]
