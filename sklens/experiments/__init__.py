"""Experiments that regenerate published results with the library: ``reproduce`` (Swierc et al. 2023)."""
