"""Analysis stage: robustness, sensitivities, embedding and hydrological signatures."""
