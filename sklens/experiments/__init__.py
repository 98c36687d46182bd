"""Experiments run with the library: ``reproduce`` (Swierc et al. 2023) and ``uncertainty``, two
configurations of one runner (``runner``), on the paper's scaled domains (``data``)."""
