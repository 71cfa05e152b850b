"""Bibliography: the papers and textbooks behind the derivations (emitted into their LaTeX)."""

from __future__ import annotations

from derivations.derivation import Reference

LI_TAI_E_2017 = Reference(
    "li2017sme", "Q. Li, C. Tai and W. E",
    "Stochastic modified equations and adaptive stochastic gradient algorithms", "ICML", 2017, "1511.06251")
MANDT_2017 = Reference(
    "mandt2017", "S. Mandt, M. D. Hoffman and D. M. Blei",
    "Stochastic gradient descent as approximate Bayesian inference", "J. Mach. Learn. Res. 18", 2017, "1704.04289")
GARDINER_2009 = Reference(
    "gardiner2009", "C. Gardiner", "Stochastic Methods: A Handbook for the Natural and Social Sciences",
    "Springer, 4th ed.", 2009)
ISSERLIS_1918 = Reference(
    "isserlis1918", "L. Isserlis",
    "On a formula for the product-moment coefficient of any order of a normal frequency distribution in any number of variables",
    "Biometrika 12", 1918)
KLOEDEN_PLATEN_1992 = Reference(
    "kloeden1992", "P. E. Kloeden and E. Platen", "Numerical Solution of Stochastic Differential Equations",
    "Springer", 1992)
GROSS_2024 = Reference(
    "gross2024", "M. Gross, A. P. Raulf and C. R\\\"ath",
    "Weight fluctuations in deep linear neural networks and a derivation of the inverse-variance flatness relation",
    "Phys. Rev. Research 6, 033103", 2024, "2311.14120")
FENG_TU_2021 = Reference(
    "feng2021", "Y. Feng and Y. Tu",
    "The inverse variance-flatness relation in stochastic gradient descent is critical for finding flat minima",
    "PNAS 118, e2015617118", 2021)
CORLOUER_2026 = Reference(
    "corlouer2026", "G. Corlouer, A. Semler, A. Strang and A. Gietelink Oldenziel",
    "Stochastic gradient descent in the saddle-to-saddle regime of deep linear networks", "arXiv preprint", 2026,
    "2604.06366")
ZHANG_YANG_TU_2026 = Reference(
    "zhang2026", "Y. Zhang, N. Yang and Y. Tu",
    "On the superlinear relationship between SGD noise covariance and loss landscape curvature", "ICML", 2026,
    "2602.05600")
SCLOCCHI_2023 = Reference(
    "sclocchi2023", "A. Sclocchi, M. Geiger and M. Wyart",
    "Dissecting the effects of SGD noise in distinct regimes of deep learning", "ICML", 2023, "2301.13703")
