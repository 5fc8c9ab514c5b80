"""Report stage: tables, figures and the HTML report."""
