"""The engine: seeds and streams, run caps and progress bars, data laws, replica SGD (numpy and compiled
kernels) and SDE ensemble integrators. It knows no model or check by name: it asks what they declare."""
