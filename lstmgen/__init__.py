"""lstmgen: LSTM difference equations -> SymPy-derived BPTT -> verified NumPy and TF code."""

__version__ = "0.1.0"
