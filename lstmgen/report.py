"""Derivation report: CellSpec -> forward equations and derived adjoints as text/LaTeX/Markdown."""
