"""The calculus the derivations use: Itô/Stratonovich SDEs, Gaussian expectations, linear SDEs (Lyapunov),
stationary Fokker–Planck densities, and the wall-clock budget of symbolic steps."""
