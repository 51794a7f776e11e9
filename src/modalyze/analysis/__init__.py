"""Analysis: the dependency study, PID, shuffles and the verdict."""

from modalyze.analysis.profile import Profile
from modalyze.analysis.study import BUDGETS, analyze

__all__ = ["BUDGETS", "Profile", "analyze"]
