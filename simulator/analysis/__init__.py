"""Answer strategies: estimators that see only what a real trial observes.

Nothing in this package imports the world, the timeline or the truth (STYLE.md, principle 3).
"""
